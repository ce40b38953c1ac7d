"""A bound on the disk caches: at most LIMIT bytes under the cache folder, least recently used
first out.

`looped run` keeps compiled loops (looped/executables.py), XLA's compilation cache and the native
kernel's builds under one folder (~/.cache/looped, LOOPED_CACHE_DIR). A large machine's entry can
take hundreds of megabytes, so the folder is bounded as a whole: each command that compiles calls
`bound(folder)` before its run, which deletes the files least recently modified until the total
is at most the limit (LOOPED_CACHE_LIMIT, e.g. "2G"; default DEFAULT_LIMIT). A deleted entry is
only a slower next run: every cache here is rebuilt when missing.
"""

from __future__ import annotations

import os

DEFAULT_LIMIT = 2 << 30  # 2 GiB


def limit() -> int:
    from looped.memory_guard import parse_size

    text = os.environ.get("LOOPED_CACHE_LIMIT")
    try:
        return parse_size(text) if text else DEFAULT_LIMIT
    except ValueError:
        return DEFAULT_LIMIT


def _files(folder: str) -> list[tuple[float, int, str]]:
    """(modification time, size, path) of every file under `folder`."""
    out = []
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            try:
                st = os.stat(path)
            except OSError:
                continue
            out.append((st.st_mtime, st.st_size, path))
    return out


def bound(folder: str, max_bytes: int | None = None) -> int:
    """Delete the least recently modified files under `folder` until at most `max_bytes` remain;
    returns the bytes freed. Errors (a file in use, a read-only folder) are skipped."""
    max_bytes = limit() if max_bytes is None else max_bytes
    files = sorted(_files(folder))
    total = sum(size for _, size, _ in files)
    freed = 0
    for _, size, path in files:
        if total - freed <= max_bytes:
            break
        try:
            os.unlink(path)
            freed += size
        except OSError:
            pass
    return freed
