"""kernels/common.py: the vector width XLA:CPU is asked for, per CPU, and LLVM's unrolling cap."""

from __future__ import annotations

import os
import subprocess
import sys

import jax
import pytest

from kernels import common, settings


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


@pytest.mark.parametrize("flags, cap, expected", [
    ("", 4, "--xla_backend_extra_options=-unroll-full-max-count=4"),
    ("--xla_cpu_use_thunk_runtime=true", 8,
     "--xla_cpu_use_thunk_runtime=true --xla_backend_extra_options=-unroll-full-max-count=8"),
    ("--xla_cpu_use_thunk_runtime=true", 0, "--xla_cpu_use_thunk_runtime=true"),  # 0: LLVM's default
    ("--xla_backend_extra_options=-vectorize-loops", 4, "--xla_backend_extra_options=-vectorize-loops"),  # the user's own
])
def test_the_unrolling_cap_joins_the_xla_flags(flags, cap, expected):
    assert settings.with_unroll_cap(flags, cap) == expected


def test_the_unrolling_cap_setting(monkeypatch):
    monkeypatch.delenv(settings.UNROLL_ENV, raising=False)
    assert settings.unroll_max() == settings.DEFAULT_UNROLL_MAX
    monkeypatch.setenv(settings.UNROLL_ENV, "0")
    assert settings.unroll_max() == 0
    monkeypatch.setenv(settings.UNROLL_ENV, "four")
    with pytest.raises(common.SettingError, match="whole number of loop iterations"):
        settings.unroll_max()
    monkeypatch.setenv(settings.UNROLL_ENV, "99999999999999999999")  # (LLVM would stop the process on it)
    with pytest.raises(common.SettingError, match="to 65535"):
        settings.unroll_max()
    with pytest.raises(common.SettingError):
        common.xla_cpu_options()


def _flags_after_import(**env) -> str:
    environ = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", settings.UNROLL_ENV, "JAX_PLATFORMS")}
    code = "import os, kernels; print(os.environ.get('XLA_FLAGS', ''))"
    done = subprocess.run([sys.executable, "-c", code], env={**environ, **env}, capture_output=True, text=True,
                          check=True, cwd=common.__file__.rsplit("/kernels/", 1)[0])
    return done.stdout.strip()


def test_importing_kernels_sets_the_cap_for_a_cpu_run():
    """The cap reaches XLA_FLAGS when `kernels` is imported (XLA reads them once, at its first
    compile); not where JAX is told to use an accelerator, nor where it is set to 0."""
    assert _flags_after_import(JAX_PLATFORMS="cpu") == "--xla_backend_extra_options=-unroll-full-max-count=4"
    assert _flags_after_import(JAX_PLATFORMS="cuda") == ""
    assert _flags_after_import(JAX_PLATFORMS="cpu", LOOPED_XLA_UNROLL_MAX="0") == ""


def test_a_thread_cap_beyond_any_machine_caps_nothing(monkeypatch):
    """(a 20-digit LOOPED_THREADS gave a traceback from native's int64 argument)"""
    monkeypatch.setenv("LOOPED_THREADS", "99999999999999999999")
    assert common.thread_cap() == 1 << 20
    monkeypatch.setenv("LOOPED_THREADS", "3")
    assert common.thread_cap() == 3
