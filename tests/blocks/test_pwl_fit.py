"""PWL helpers (looped/blocks/pwl_fit.py) and the generated recip/rsqrt constants (looped/blocks/pwl_constants.py,
made by `python benchmarks/fit_blocks.py`): no fitting here, NumPy only."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from looped.blocks.pwl_fit import pwl_eval, pwl_slopes

ROOT = Path(__file__).resolve().parents[2]


def _constants():
    # By path: the module is plain Python and needs nothing from the looped.blocks package.
    spec = importlib.util.spec_from_file_location("pwl_constants", ROOT / "looped" / "blocks" / "pwl_constants.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


C = _constants()


def _reference(x, t, v, tail):
    """The PWL by interpolation: 0 for x <= 0, through (0, 0) and the knots, then slope `tail`."""
    y = np.interp(x, np.concatenate([[0.0], t]), np.concatenate([[0.0], v]))
    y = np.where(x > t[-1], v[-1] + tail * (x - t[-1]), y)
    return np.where(x > 0, y, 0.0)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("form", ["right", "left"])
def test_relu_form_reproduces_interpolation(seed, form):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(1, 12))
    t = np.sort(rng.uniform(0.1, 10.0, k))
    v = rng.normal(size=k)
    tail = float(rng.normal()) if seed % 2 else 0.0
    x = np.concatenate([np.linspace(-15, 15, 3001), t, -t])
    want = _reference(x, t, v, tail)
    got = pwl_eval(x, t, v, odd=False, tail_slope=tail, form=form)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-10)
    odd = pwl_eval(x, t, v, odd=True, tail_slope=tail, form=form)
    np.testing.assert_allclose(odd, want - _reference(-x, t, v, tail), rtol=0, atol=1e-10)


def test_slopes():
    t = np.array([1.0, 2.0, 4.0])
    v = np.array([2.0, 1.0, 0.5])
    s0, a = pwl_slopes(t, v, tail_slope=0.0)
    assert s0 == 2.0
    np.testing.assert_allclose(a, [-3.0, 0.75, 0.25])  # slopes 2, -1, -0.25, 0
    assert s0 + a.sum() == 0.0
    with pytest.raises(ValueError):
        pwl_slopes([1.0, 1.0], [1.0, 2.0])
    with pytest.raises(ValueError):
        pwl_slopes([0.0, 1.0], [1.0, 2.0])


FUNCS = {
    "RECIP": (lambda g, x: g * x - 1.0, lambda g, x: g * x, 2.0),
    "RSQRT": (lambda g, x: g * np.sqrt(x) - 1.0, lambda g, x: x * g * g, 3.0),
}


@pytest.mark.parametrize("name", FUNCS)
def test_constants_meet_stated_error_and_newton_preconditions(name):
    rel, newton, bound = FUNCS[name]
    t = np.asarray(getattr(C, f"{name}_KNOTS"))
    v = np.asarray(getattr(C, f"{name}_VALUES"))
    lo, hi = getattr(C, f"{name}_DOMAIN")
    stated = getattr(C, f"{name}_MAX_REL_ERROR")
    odd = getattr(C, f"{name}_ODD")
    tail = getattr(C, f"{name}_TAIL_SLOPE")
    assert odd == (name == "RECIP") and len(t) == len(v) and np.all(np.diff(t) > 0)
    assert t[0] == lo and hi in t
    assert stated < getattr(C, f"{name}_INTERPOLATION_MAX_REL_ERROR")
    # A dense log grid of the domain plus every knot in it; the left form rounds to a few ulps
    # there (the right form's float64 rounding is far above the stated error near 2^12).
    x = np.unique(np.concatenate([np.geomspace(lo, hi, 1 << 17), t[t <= hi]]))
    g = pwl_eval(x, t, v, odd=False, tail_slope=tail, form="left")
    e = np.abs(rel(g, x))
    assert e.max() <= stated * (1 + 1e-9)
    assert e.max() >= 0.999 * stated  # the stated figure is the sup, not a loose bound
    if odd:  # the odd extension, -g on negative x, through the right form on a modest range
        xm = np.geomspace(lo, 1.0, 4001)
        np.testing.assert_allclose(pwl_eval(-xm, t, v, odd=True, tail_slope=tail), -pwl_eval(xm, t, v, odd=True),
                                   rtol=1e-12)
    # Newton converges: 0 < g x < 2 (recip), 0 < x g^2 < 3 (rsqrt); over the domain within the
    # stated range, and on (0, 2^14) beyond it; 0 past the last knot (Newton stays at 0).
    p = newton(g, x)
    nlo, nhi = getattr(C, f"{name}_NEWTON_RANGE")
    assert nlo * (1 - 1e-9) <= p.min() and p.max() <= nhi * (1 + 1e-9)
    wide = np.geomspace(lo / 2**10, t[-1] * (1 - 1e-9), 1 << 15)
    pw = newton(pwl_eval(wide, t, v, odd=False, tail_slope=tail, form="left"), wide)
    assert np.all(pw > 0) and np.all(pw < bound)
    past = np.geomspace(t[-1], 1e6, 100)
    np.testing.assert_array_equal(pwl_eval(past, t, v, odd=False, tail_slope=tail, form="left"), 0.0)
