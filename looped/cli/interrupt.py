"""Ctrl-C at any moment: print "interrupted" and stop at once, with no traceback.

A KeyboardInterrupt raised by Python's own handler arrives only when the main thread runs Python
code: not while it waits inside a compiled loop or XLA's compiler (the run went on to the end),
and at times inside a garbage-collection callback, where it is printed as "Exception ignored in
... _xla_gc_callback" and lost. So the signal's C-level handler is made to write to a pipe
(`signal.set_wakeup_fd`), and a small thread blocked on that pipe ends the process as soon as the
signal arrives, whatever the main thread is doing. Nothing of the run is kept: the disk caches are
written to a temporary file and renamed (looped/executables.py), so a cut never leaves half an
entry.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it

_installed = False


def _stop() -> None:
    try:
        sys.stdout.flush()
    except Exception:  # a closed or broken pipe: nothing more to say there
        pass
    os.write(2, b"\ninterrupted\n")
    os._exit(EXIT_INTERRUPTED)


def _on_signal(signum, frame) -> None:  # the Python-level handler, when the main thread gets there first
    _stop()


def _watch(read_fd: int) -> None:
    while True:
        try:
            data = os.read(read_fd, 16)
        except InterruptedError:
            continue
        except OSError:
            return
        if data and signal.SIGINT in data:
            _stop()


def install() -> None:
    """Route SIGINT to an immediate, quiet stop (main thread only; once)."""
    global _installed
    if _installed or threading.current_thread() is not threading.main_thread():
        return
    try:
        read_fd, write_fd = os.pipe()
        os.set_blocking(write_fd, False)
        signal.signal(signal.SIGINT, _on_signal)
        signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    except (ValueError, OSError):
        return
    threading.Thread(target=_watch, args=(read_fd,), name="looped-interrupt", daemon=True).start()
    _installed = True
