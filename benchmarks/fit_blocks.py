"""Fit the knot values of FLEQ's piecewise-linear `recip` and `rsqrt` blocks (optax, float64).

    python benchmarks/fit_blocks.py

The blocks are one hidden layer of ReLUs: for x >= 0, g(x) = s0*relu(x) + sum_k a_k*relu(x - t_k),
the PWL through (0, 0) and the knots (t_k, v_k) (looped/blocks/pwl_fit.py). recip is the odd extension
g(x) - g(-x); rsqrt is g(x) for x > 0 and 0 for x <= 0. A program refines them with Newton
(r <- r(2 - x r), y <- y(3 - x y^2)/2), so they need a documented relative error, not a small one.

Knots: geometric, 4 per octave, t_k = 2^(k/4 - 12) for k = 0..96 spanning the domain [2^-12, 2^12],
plus one *tail knot* at 2^14 with value 0 (slope 0 after it): g falls linearly to 0 between 2^12
and 2^14 and is 0 beyond. Then g(x)x stays in (0, 4/3] (recip) and x g^2 in (0, 1.06] (rsqrt) on
(0, 2^14), where Newton converges, and past 2^14 the block gives 0 (Newton stays at 0) instead of
a constant whose Newton iteration diverges. The knot positions are not fitted: 1/x and 1/sqrt(x)
are scale-invariant and geometric knots already give every segment the same error.

Values: start from interpolation (v_k = f(t_k)); fit v_k = f(t_k)(1 + u_k) with optax's Adam,
minimising a log-sum-exp smooth max of +-(relative error) over a log-spaced sample (256 points
per segment), the temperature annealed so the smooth max approaches the true max. Reference: with
geometric knots every segment is alike; interpolation's error lies in [0, E] on each, and scaling
all values by 2/(2 + E) makes it equioscillate in [-E/(2 + E), E/(2 + E)] (`minimax_reference`);
the fit gets within ~1e-5 (relative) of that from above. The reported max
relative error is the exact sup over the domain (closed form per segment: the error is a
quadratic in x for recip, in sqrt(x) times a linear function for rsqrt), checked against a grid of
2^21 + 1 log-spaced points.

Rounding (`relu_form_rounding_max_rel`: the ReLU forms of looped/blocks/pwl_fit.py evaluated in float64 and
float32 against the exact PWL on the domain): in the right form above the steep first segment
(s0 = 2^24 for recip) makes terms of size ~s0*x cancel down to 1/x, so recip loses ~40% in float64
and everything in float32 near x = 2^12 (rsqrt: ~1e-4 and everything). The left form of the same
g (units relu(t_k - x), all >= 0 for x >= t_0) stays within a few ulps; its odd extension cancels
like the right form. No one-hidden-layer odd form of x avoids this (the big kinks at +-t_0 act on
one side), so a stable recip needs |x| and the sign from elsewhere.

Writes benchmarks/results/fit_blocks.{json,png} and regenerates looped/blocks/pwl_constants.py.
Deterministic (CPU, float64, fixed schedule).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from looped.blocks.pwl_fit import pwl_eval, pwl_slopes  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
CONSTANTS = ROOT / "looped" / "blocks" / "pwl_constants.py"

LO_EXP, HI_EXP, PER_OCTAVE = -12, 12, 4
TAIL_KNOT = 2.0**14  # value 0 there, slope 0 after
DOMAIN = (2.0**LO_EXP, 2.0**HI_EXP)
EXTENDED = (2.0**(LO_EXP - 1), 2.0**(HI_EXP + 1))
SAMPLES_PER_SEGMENT = 256
STEPS = 16000
GRID_POINTS = 2**21 + 1

FUNCTIONS = {
    # name: the function, odd extension?, the Newton quantity that must lie in (0, bound), the update
    "recip": dict(f=lambda x: 1.0 / x, odd=True, newton="g(x)*x", bound=2.0,
                  update="r <- r*(2 - x*r)"),
    "rsqrt": dict(f=lambda x: 1.0 / np.sqrt(x), odd=False, newton="x*g(x)^2", bound=3.0,
                  update="y <- y*(3 - x*y^2)/2"),
}


def domain_knots() -> np.ndarray:
    n = (HI_EXP - LO_EXP) * PER_OCTAVE + 1
    return np.array([2.0 ** (LO_EXP + k / PER_OCTAVE) for k in range(n)])


def rel_error(name: str, g, x):
    """Signed relative error: g x - 1 (recip), g sqrt(x) - 1 (rsqrt)."""
    return g * x - 1.0 if name == "recip" else g * np.sqrt(x) - 1.0


def newton_quantity(name: str, g, x):
    return g * x if name == "recip" else x * g * g


def exact_pwl(x, knots, values):
    """The PWL itself (no ReLU rounding): through (0, 0), the knots, constant after the last."""
    return np.interp(x, np.concatenate([[0.0], knots]), np.concatenate([[0.0], values]))


def error_extremes(name: str, knots, values, lo: float, hi: float) -> tuple[float, float]:
    """Exact (min, max) of the signed relative error over [lo, hi] (lo > 0): on each segment g is
    alpha + beta x, the error alpha x + beta x^2 - 1 (recip) or alpha sqrt(x) + beta x^1.5 - 1
    (rsqrt); candidates are the clipped segment ends and the interior critical point."""
    b = np.concatenate([[0.0], knots, [np.inf]])
    w = np.concatenate([[0.0], values, [values[-1]]])
    left, right = b[:-1], b[1:]
    beta = np.where(np.isfinite(right), (w[1:] - w[:-1]) / np.where(np.isfinite(right), right - left, 1.0), 0.0)
    alpha = w[:-1] - beta * left
    keep = (right > lo) & (left < hi)
    left, right, alpha, beta = np.maximum(left[keep], lo), np.minimum(right[keep], hi), alpha[keep], beta[keep]
    with np.errstate(divide="ignore", invalid="ignore"):
        crit = -alpha / ((2.0 if name == "recip" else 3.0) * beta)
    crit = np.where((beta != 0) & (crit > left) & (crit < right), crit, left)
    cand = np.concatenate([left, right, crit])
    ga = np.concatenate([alpha, alpha, alpha]) + np.concatenate([beta, beta, beta]) * cand
    e = rel_error(name, ga, cand)
    return float(e.min()), float(e.max())


def fit(name: str, knots: np.ndarray, v0: np.ndarray):
    """optax Adam on v = v0 (1 + u), annealed log-sum-exp of +-relative error. Returns (values, steps)."""
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import optax

    rho = knots[1] / knots[0]
    s = rho ** (np.arange(SAMPLES_PER_SEGMENT) / SAMPLES_PER_SEGMENT)
    seg = np.repeat(np.arange(len(knots) - 1), SAMPLES_PER_SEGMENT)
    x = (knots[:-1, None] * s[None, :]).reshape(-1)
    lam = (x - knots[seg]) / (knots[seg + 1] - knots[seg])
    seg = np.concatenate([seg, [len(knots) - 2]])
    lam = np.concatenate([lam, [1.0]])
    x = np.concatenate([x, [knots[-1]]])
    weight = x if name == "recip" else np.sqrt(x)  # e = g * weight - 1
    seg, lam, weight, v0j = jnp.asarray(seg), jnp.asarray(lam), jnp.asarray(weight), jnp.asarray(v0)

    def loss(u, beta):
        v = v0j * (1.0 + u)
        g = (1.0 - lam) * v[seg] + lam * v[seg + 1]
        e = g * weight - 1.0
        return jax.nn.logsumexp(beta * jnp.concatenate([e, -e])) / beta

    lr = optax.exponential_decay(1e-3, transition_steps=STEPS, decay_rate=1e-3)
    opt = optax.adam(lr)
    betas = jnp.asarray(np.geomspace(1e3, 1e7, STEPS))

    @jax.jit
    def run(u):
        def step(carry, beta):
            u, state = carry
            grad = jax.grad(loss)(u, beta)
            updates, state = opt.update(grad, state, u)
            return (optax.apply_updates(u, updates), state), None

        (u, _), _ = jax.lax.scan(step, (u, opt.init(u)), betas)
        return u

    u = np.asarray(run(jnp.zeros(len(knots))))
    return v0 * (1.0 + u), STEPS


def newton_steps(name: str, g, x, tol: float = 1e-14, cap: int = 200) -> int:
    """Most Newton steps (float64) any x needs to bring the relative error below tol."""
    y = g.copy()
    exact = 1.0 / x if name == "recip" else 1.0 / np.sqrt(x)
    for i in range(cap + 1):
        if np.all(np.abs(y / exact - 1.0) < tol):
            return i
        y = y * (2.0 - x * y) if name == "recip" else y * (3.0 - x * y * y) / 2.0
    return -1


def study(name: str) -> dict:
    spec = FUNCTIONS[name]
    t0 = time.perf_counter()
    knots = domain_knots()
    interp = spec["f"](knots)
    fitted, steps = fit(name, knots, interp)
    all_knots = np.concatenate([knots, [TAIL_KNOT]])
    grid = np.geomspace(*DOMAIN, GRID_POINTS)
    ext = np.geomspace(EXTENDED[0], EXTENDED[1], GRID_POINTS)
    out = {"knots": len(all_knots), "domain_knots": len(knots), "domain": list(DOMAIN),
           "tail": f"linear from the last domain knot to 0 at {TAIL_KNOT:g}, then 0",
           "relu_units": (len(all_knots) + 1) * (2 if spec["odd"] else 1)}
    res = {}
    for label, v in (("interpolation", interp), ("fit", fitted)):
        vals = np.concatenate([v, [0.0]])
        lo, hi = error_extremes(name, all_knots, vals, *DOMAIN)
        grid_err = np.abs(rel_error(name, exact_pwl(grid, all_knots, vals), grid)).max()
        res[label] = dict(values=vals, max_rel_error=max(-lo, hi), grid_max_rel_error=float(grid_err),
                          error_range=[lo, hi])
    vals = res["fit"]["values"]
    out["interpolation_max_rel_error"] = res["interpolation"]["max_rel_error"]
    out["fit_max_rel_error"] = res["fit"]["max_rel_error"]
    out["fit_grid_max_rel_error"] = res["fit"]["grid_max_rel_error"]
    out["interpolation_grid_max_rel_error"] = res["interpolation"]["grid_max_rel_error"]
    e_int = res["interpolation"]["max_rel_error"]
    out["minimax_reference"] = e_int / (2.0 + e_int)
    out["fit_error_range"] = res["fit"]["error_range"]
    out["grid_points"] = GRID_POINTS
    # Newton preconditions: exact ranges from the signed error on the domain; grids beyond it.
    lo, hi = res["fit"]["error_range"]
    q = (lambda e: 1.0 + e) if name == "recip" else (lambda e: (1.0 + e) ** 2)
    beyond = {}
    for label, (a, b) in {"extended": EXTENDED, "below_domain": (EXTENDED[0] / 2**10, DOMAIN[0]),
                          "above_domain_to_tail_knot": (DOMAIN[1], TAIL_KNOT * (1 - 1e-12))}.items():
        xs = np.geomspace(a, b, 1 << 16 if label != "extended" else GRID_POINTS)
        p = newton_quantity(name, exact_pwl(xs, all_knots, vals), xs)
        beyond[label] = {"x": [a, b], "range": [float(p.min()), float(p.max())]}
    g_ext = exact_pwl(ext, all_knots, vals)
    out["newton"] = {"quantity": spec["newton"], "converges_if_in": [0.0, spec["bound"]], "update": spec["update"],
                     "domain_range": [q(lo), q(hi)], **beyond,
                     "steps_to_1e-14_domain": newton_steps(name, exact_pwl(grid, all_knots, vals), grid),
                     "steps_to_1e-14_extended": newton_steps(name, g_ext, ext),
                     "past_tail_knot": "g = 0: the quantity is 0 and Newton stays at 0 (result 0)"}
    # Rounding of the one-hidden-layer ReLU forms (same function, looped/blocks/pwl_fit.py) against the PWL.
    exact = exact_pwl(grid, all_knots, vals)
    rounding = {}
    for form in ("right", "left"):
        for dt in (np.float64, np.float32):
            y = pwl_eval(grid, all_knots, vals, odd=False, form=form, dtype=dt)
            rounding[f"{form}_{np.dtype(dt).name}"] = float(np.abs(y / exact - 1.0).max())
    if spec["odd"]:
        for dt in (np.float64, np.float32):
            y = pwl_eval(grid, all_knots, vals, odd=True, form="left", dtype=dt)
            rounding[f"left_odd_{np.dtype(dt).name}"] = float(np.abs(y / exact - 1.0).max())
    out["relu_form_rounding_max_rel"] = rounding
    out["iterations"] = steps
    out["seconds"] = round(time.perf_counter() - t0, 2)
    out["_values"] = vals
    out["_knots"] = all_knots
    out["_interp"] = res["interpolation"]["values"]
    return out


def write_constants(results: dict) -> None:
    lines = [
        '"""GENERATED by `python benchmarks/fit_blocks.py`; do not edit by hand.',
        "",
        "Knots and fitted values of FLEQ's piecewise-linear `recip` and `rsqrt` blocks (see",
        "looped/blocks/pwl_fit.py for the ReLU form and benchmarks/fit_blocks.py for the fit).",
        "",
        "For x >= 0 the block is the PWL g through (0, 0) and the points (KNOTS[k], VALUES[k]), with",
        "slope TAIL_SLOPE (0) after the last knot: g(x) = s0*relu(x) + sum_k a_k*relu(x - t_k),",
        "(s0, a) = looped.blocks.pwl_fit.pwl_slopes(KNOTS, VALUES, TAIL_SLOPE). The knots are 2^(k/4 - 12),",
        f"k = 0..96 (4 per octave over the domain), then a tail knot at {TAIL_KNOT:g} with value 0: g",
        "falls linearly to 0 past the domain and is 0 beyond 2^14. recip is odd, g(x) - g(-x);",
        "rsqrt is g(x), 0 for x <= 0.",
        "",
        "MAX_REL_ERROR is the exact sup over DOMAIN of |g(x) x - 1| (recip, both signs) or",
        "|g(x) sqrt(x) - 1| (rsqrt) of the PWL itself. NEWTON_RANGE is the range of g(x) x (recip,",
        "Newton converges in (0, 2)) or x g(x)^2 (rsqrt, converges in (0, 3)) over DOMAIN; it stays",
        "in (0, 4/3] (recip) and (0, 1.06] (rsqrt) on all of (0, 2^14), tending to 0 at both ends",
        "(slower convergence there), and is 0 past 2^14 (Newton then returns 0).",
        "",
        "Rounding: in the right ReLU form above, the steep first segment makes terms of size",
        "~s0*x cancel near x = 2^12; the left form (looped.blocks.pwl_fit, form='left': units relu(t_k - x),",
        "all >= 0 for x >= KNOTS[0]) of the same g does not. Largest relative deviation from the",
        "PWL over DOMAIN, measured by the script (x > 0):",
    ]
    for name, r in results.items():
        rr = r["relu_form_rounding_max_rel"]
        lines.append(f"    {name}: " + ", ".join(f"{k} {v:.2g}" for k, v in rr.items()))
    lines += ['"""', ""]
    for name, r in results.items():
        up = name.upper()
        lines += [
            f"{up}_DOMAIN = ({DOMAIN[0]!r}, {DOMAIN[1]!r})",
            f"{up}_ODD = {FUNCTIONS[name]['odd']!r}",
            f"{up}_TAIL_SLOPE = 0.0",
            f"{up}_MAX_REL_ERROR = {r['fit_max_rel_error']!r}",
            f"{up}_INTERPOLATION_MAX_REL_ERROR = {r['interpolation_max_rel_error']!r}",
            f"{up}_NEWTON_RANGE = ({r['newton']['domain_range'][0]!r}, {r['newton']['domain_range'][1]!r})",
            f"{up}_KNOTS = [",
            *[f"    {float(t)!r}," for t in r["_knots"]],
            "]",
            f"{up}_VALUES = [",
            *[f"    {float(v)!r}," for v in r["_values"]],
            "]",
            "",
        ]
    CONSTANTS.parent.mkdir(parents=True, exist_ok=True)
    CONSTANTS.write_text("\n".join(lines))


def plot(results: dict):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 1, figsize=(9, 10), sharex=True)
    x = np.geomspace(EXTENDED[0], EXTENDED[1], 40001)
    xw = np.geomspace(DOMAIN[0] / 8, TAIL_KNOT * 2, 40001)
    for (name, r), style in zip(results.items(), ("C0", "C2")):
        spec = FUNCTIONS[name]
        p = newton_quantity(name, exact_pwl(xw, r["_knots"], r["_values"]), xw)
        axes[2].plot(xw, p, style, lw=0.8, label=f"{name}: {spec['newton']} (Newton converges in (0, {spec['bound']:g}))")
        axes[2].axhline(spec["bound"], color=style, ls="--", lw=0.8)
    axes[2].axvspan(*DOMAIN, color="0.93", zorder=0)
    axes[2].set_ylabel("Newton quantity (fit)")
    axes[2].set_ylim(-0.1, 3.2)
    axes[2].legend(loc="upper left", fontsize=8)
    for ax, (name, r) in zip(axes, results.items()):
        for label, vals, style in (("interpolation", r["_interp"], "C1"), ("fit", r["_values"], "C0")):
            e = rel_error(name, exact_pwl(x, r["_knots"], vals), x)
            m = r["interpolation_max_rel_error" if label == "interpolation" else "fit_max_rel_error"]
            ax.plot(x, e, style, lw=0.8, label=f"{label} (max {m:.3%} on the domain)")
        ax.axvspan(*DOMAIN, color="0.93", zorder=0)
        ax.axhline(0, color="k", lw=0.5)
        lim = 1.6 * r["interpolation_max_rel_error"]
        ax.set_ylim(-lim, lim)
        ax.set_ylabel("g(x)x - 1" if name == "recip" else "g(x)sqrt(x) - 1")
        ax.set_title(f"{name}: {r['knots']} knots (PWL, 4 per octave), domain shaded")
        ax.legend(loc="upper center", fontsize=8)
    axes[-1].set_xscale("log", base=2)
    axes[-1].set_xlabel("x")
    fig.tight_layout()
    return fig


def main() -> dict:
    t0 = time.perf_counter()
    results = {name: study(name) for name in FUNCTIONS}
    write_constants(results)
    RESULTS.mkdir(parents=True, exist_ok=True)
    fig = plot(results)
    fig.savefig(RESULTS / "fit_blocks.png", dpi=110, bbox_inches="tight")
    public = {name: {k: v for k, v in r.items() if not k.startswith("_")} for name, r in results.items()}
    data = {"benchmark": "fit_blocks", "command": "python benchmarks/fit_blocks.py",
            "constants": str(CONSTANTS.relative_to(ROOT)), **public,
            "total_seconds": round(time.perf_counter() - t0, 2)}
    text = json.dumps(data, indent=2)
    print(text)
    (RESULTS / "fit_blocks.json").write_text(text + "\n")
    return data


if __name__ == "__main__":
    main()
