"""kernels/common.py: the vector width XLA:CPU is asked for, per CPU."""

from __future__ import annotations

import jax
import pytest

from kernels import common


def _cpu(vendor: str, family: int, flags: str) -> dict:
    return {"vendor": vendor, "family": family, "model": "test", "flags": frozenset(flags.split())}


@pytest.mark.parametrize("vendor, family, flags, bits", [
    ("AuthenticAMD", 25, "avx2 avx512f", 512),  # Zen 4: 512-bit operations at full clock
    ("AuthenticAMD", 25, "avx2", None),  # (a Zen 3 of the same family: no AVX-512)
    ("AuthenticAMD", 23, "avx2", None),
    ("GenuineIntel", 6, "avx2 avx512f", None),  # XLA's default where wide vectors may lower the clock
    ("", 0, "", None),  # unknown
])
def test_the_width_follows_the_cpu(monkeypatch, vendor, family, flags, bits):
    monkeypatch.delenv(common.VECTOR_BITS_ENV, raising=False)
    monkeypatch.setattr(common, "cpu_description", lambda: _cpu(vendor, family, flags))
    assert common.xla_vector_bits() == bits
    expected = (("xla_cpu_prefer_vector_width", bits),) if bits and jax.default_backend() == "cpu" else ()
    assert common.xla_cpu_options() == expected


def test_the_environment_overrides_the_cpu(monkeypatch):
    monkeypatch.setattr(common, "cpu_description", lambda: _cpu("AuthenticAMD", 25, "avx512f"))
    monkeypatch.setenv(common.VECTOR_BITS_ENV, "256")
    assert common.xla_vector_bits() == 256
    monkeypatch.setenv(common.VECTOR_BITS_ENV, "300")
    with pytest.raises(ValueError, match="128, 256 or 512"):
        common.xla_vector_bits()


def test_this_cpu_is_described():
    cpu = common.cpu_description()
    assert set(cpu) == {"vendor", "family", "model", "flags"}
    assert isinstance(cpu["flags"], frozenset)
