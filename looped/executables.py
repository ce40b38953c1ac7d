"""Compiled loops kept on disk between runs: the warm path of `looped run`.

A cold `looped run` spends its time building the machine's weights, tracing the kernel and
compiling the loop. The runner (looped/runner.py) compiles its loop functions ahead of time, one
set per batch shape, and, when this cache is on, serializes the compiled executables
(`jax.experimental.serialize_executable`) into one file per machine, backend and batch shape.
The next call loads them: no weights are built, nothing is traced or compiled.

The CLI turns the cache on (`looped run` and `looped trace`; folder `~/.cache/looped/loops`,
moved with LOOPED_CACHE_DIR, off with LOOPED_CACHE_DIR=""); from Python it is off unless
`enable(folder)` is called. An entry is keyed by everything that could change the executable:
the caller's key (instruction set, machine key, backend, 64-bit mode), the batch shape and dtype,
the JAX and jaxlib versions, the platform and device kind, XLA_FLAGS, and a hash of the source
of `looped/` and `kernels/` that shapes a compiled loop (`fingerprint`). Anything unreadable,
stale or mismatched is ignored and rebuilt, so the cache can only make a run faster, never
change its result. At most MAX_ENTRIES files are kept (the least recently used go first).

XLA's own persistent cache (`~/.cache/looped/xla`) is bypassed when a loop is compiled for this
one: an executable that XLA's cache returns cannot be serialized whole on CPU (loaded again, it
fails with "Function ... not found"; the runner then compiles afresh and runs again).

Loading an executable unpickles it: the folder must be trusted as much as the code itself (it is
the user's own cache folder).
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
import sys
import tempfile
from pathlib import Path

FORMAT = 1
MAX_ENTRIES = 256  # beyond this many files the least recently used are deleted
_folder: str | None = None


def enable(folder: str | os.PathLike) -> None:
    """Keep compiled loops in `folder` (created when needed)."""
    global _folder
    _folder = os.fspath(folder)


def disable() -> None:
    global _folder
    _folder = None


def folder() -> str | None:
    return _folder


# Source that cannot change a compiled loop (the language, the command line, listings, pictures,
# the oracles): editing it keeps the cache. Everything else under looped/ and kernels/ counts.
NOT_COMPILED = ("looped/assembler/", "looped/cli/", "looped/view/", "looped/machines/subleq/assembler/",
                "looped/machines/fleq/assembler/",
                "looped/machines/tape/cli.py", "looped/machines/tape/assemble.py", "looped/machines/tape/c/",
                "looped/machines/subleq/disasm.py", "looped/disasm_card.py", "looped/machines/fleq/disasm.py",
                "looped/draw.py", "looped/export.py", "looped/machines/subleq/oracle.py",
                "looped/machines/fleq/oracle.py", "looped/machines/tape/oracle.py",
                "looped/machines/subleq/random_programs.py", "looped/machines/tape/random_tapes.py",
                "looped/__main__.py")


@functools.lru_cache(maxsize=1)
def fingerprint() -> str:
    """A hash of the library's source that shapes compiled loops (looped/ and kernels/, but for
    NOT_COMPILED): an edit there invalidates every entry."""
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for package in ("looped", "kernels"):
        for path in sorted((root / package).rglob("*.py")):
            name = path.relative_to(root).as_posix()
            if name.startswith(NOT_COMPILED):
                continue
            digest.update(name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def environment() -> tuple:
    """What else an executable depends on: versions, platform, devices, flags."""
    import jax
    import jaxlib

    from kernels.common import cpu_description, xla_vector_bits
    from kernels.settings import unroll_max

    device = jax.devices()[0]
    # (XLA:CPU builds for this CPU's instructions, at the vector width chosen for it: an executable
    # from another CPU sharing this folder may not run here)
    cpu = cpu_description()
    return (FORMAT, jax.__version__, jaxlib.__version__, device.platform, getattr(device, "device_kind", ""),
            jax.device_count(), bool(jax.config.jax_enable_x64), str(jax.config.jax_default_matmul_precision),
            os.environ.get("XLA_FLAGS", ""), cpu["model"], " ".join(sorted(cpu["flags"])), xla_vector_bits(),
            unroll_max(), fingerprint())


def _path(key: str) -> Path:
    return Path(_folder) / (hashlib.sha256(key.encode()).hexdigest()[:40] + ".pkl")


def full_key(key: tuple) -> str:
    return repr((key, environment()))


def exists(key: tuple) -> bool:
    return _folder is not None and _path(full_key(key)).is_file()


def load(key: tuple) -> list | None:
    """The compiled functions stored under `key`, or None."""
    if _folder is None:
        return None
    text = full_key(key)
    try:
        path = _path(text)
        with open(path, "rb") as f:
            entry = pickle.load(f)
        if entry.get("key") != text:
            return None
        if entry.get("ffi_targets"):  # native kernels the loop calls (kernels/native.py)
            from kernels import native

            if not native.register(entry["ffi_targets"]):
                return None
        os.utime(path)  # recently used
        from jax.experimental import serialize_executable

        return [serialize_executable.deserialize_and_load(*blob) for blob in entry["executables"]]
    except Exception:  # absent, unreadable, stale: build it again
        return None


def remove(key: tuple | None) -> None:
    """Forget the entry under `key` (one that failed to run)."""
    if _folder is None or key is None:
        return
    try:
        _path(full_key(key)).unlink()
    except OSError:
        pass


def save(key: tuple, compiled: list) -> bool:
    """Store the compiled functions under `key` (atomically); False when they cannot be stored."""
    if _folder is None:
        return False
    text, tmp = full_key(key), None
    try:
        from jax.experimental import serialize_executable

        entry = {"key": text, "executables": [serialize_executable.serialize(c) for c in compiled]}
        native = sys.modules.get("kernels.native")
        if native is not None and native.targets():
            entry["ffi_targets"] = native.targets()
        data = pickle.dumps(entry, protocol=pickle.HIGHEST_PROTOCOL)
        path = _path(text)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".pkl")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
        _evict(path.parent)
        return True
    except Exception:  # not serializable here, disk full, read-only folder: only slower next time
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        return False


def _evict(folder: Path) -> None:
    """Delete the least recently used entries beyond MAX_ENTRIES."""
    try:
        entries = sorted(folder.glob("*.pkl"), key=lambda p: p.stat().st_mtime)
        for old in entries[: max(0, len(entries) - MAX_ENTRIES)]:
            old.unlink()
    except OSError:
        pass
