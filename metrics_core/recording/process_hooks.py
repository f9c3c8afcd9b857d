"""How a process's queued records get written when it ends: at interpreter exit, on SIGTERM and
SIGHUP, and at the exit of ``multiprocessing`` children (fork, spawn, forkserver); and ``fork()``.

- ``fork()`` waits for the batch in flight; the child starts with an empty queue and its own writer.

- ``atexit``: flush, waiting up to ``EXIT_FLUSH_TIMEOUT`` seconds.
- SIGTERM, SIGHUP (``docker stop``, systemd, Kubernetes, a closed terminal): installed at import in
  the main thread when the signal has its default action. The handler flushes, then restores the
  default action and re-raises the signal, so the process ends as it would have (same exit status).
  A handler the application installed *before* importing metrics_core is chained: flush, then call
  it. One installed *after* replaces ours; it normally ends in ``sys.exit()``, where atexit flushes.
  An ignored signal stays ignored.
- ``multiprocessing`` children leave through ``os._exit`` (no atexit): their exit finalizers flush,
  and Pool workers' SIGTERM (``Pool.terminate()``) flushes as above. Spawn children import the
  main module before multiprocessing runs its after-fork hooks (which it never runs for spawn), so
  the import itself installs them there.

Whatever cannot be written in time is counted, logged with the reason, and stored (``spill``).
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import multiprocessing.util as mp_util
import os
import signal
import threading
import time

from . import spill
from .writer import Writer, current, forget_after_fork

log = logging.getLogger("metrics_core")

EXIT_FLUSH_TIMEOUT = 10.0  # seconds a process leaving waits for the database, at most
SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))
_previous: dict[int, object] = {}  # signal -> the application's handler we chain to


def exit_flush(when: str, timeout: float | None = None) -> int:
    """Write what this process queued, waiting up to ``timeout`` seconds (default
    ``EXIT_FLUSH_TIMEOUT``); whatever is still unwritten then is given up, logged with the reason
    and counted (``spill.record_loss``). Returns how many records were lost."""
    timeout = EXIT_FLUSH_TIMEOUT if timeout is None else timeout
    writer = current()
    if writer is None or (not writer.pending() and not writer.dropped_unreported):
        return 0
    started = time.monotonic()
    if writer.flush(timeout=timeout) and not writer.dropped_unreported:
        return 0
    # say why honestly: a database that refused or hung, one that was never reached, or a slow queue
    written, faulted = writer.last_written_at, writer.failing
    stalled = writer.stalled() or writer.opening  # a write hanging on the database, or on opening it
    queued, last_error = writer.pending(), writer.last_error
    lost = writer.abandon()
    if not lost:
        return 0
    unavailable = faulted or stalled or (written is not None and written < started - max(timeout, 1.0))
    if queued and unavailable:
        error = last_error if faulted else "a write still waiting for the database: locked, or not answering"
        why = f"the database stayed unavailable for the {timeout:g} s exit flush ({error})"
    elif queued and written is None:
        why = f"the {timeout:g} s exit flush ran out before the first batch was written (the writer was still starting)"
    elif queued:
        why = (
            f"the {timeout:g} s exit flush ran out with {queued} record(s) still queued: the database took "
            "writes, but records were queued faster than they could be written"
        )
    else:
        why = f"dropped earlier ({last_error}), and the count could not be stored before {when}"
    failing = unavailable
    log.error("llm-metrics lost %d record(s) at %s: %s", lost, when, why)
    spill.record_loss(writer.url, lost, f"{lost} record(s) lost at {when}: {why}", try_database=not failing)
    return lost


def _at_exit(_obj=None) -> None:
    exit_flush("exit")


def _on_signal(signum, frame) -> None:
    name = signal.Signals(signum).name
    previous = _previous.get(signum)
    if callable(previous):  # the application's handler decides what happens next: flush, don't give up
        writer = current()
        if writer is not None and writer.pending():
            writer.flush(timeout=EXIT_FLUSH_TIMEOUT)
        previous(signum, frame)
        return
    try:
        exit_flush(name)
    finally:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)  # end as the signal would have


def install_signal_handlers() -> None:
    """Flush on SIGTERM and SIGHUP (main thread only; ignored signals stay ignored)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in SIGNALS:
        try:
            handler = signal.getsignal(signum)
            if handler is _on_signal or handler is signal.SIG_IGN or handler is None:
                continue
            if callable(handler):
                _previous[signum] = handler
            else:
                _previous.pop(signum, None)
            signal.signal(signum, _on_signal)
        except (ValueError, OSError):  # not allowed here
            continue


def _in_multiprocessing_child(_obj=None) -> None:
    """In a ``multiprocessing`` child: flush from its exit finalizers and on its SIGTERM."""
    mp_util.Finalize(None, _at_exit, exitpriority=100)
    install_signal_handlers()


def _is_multiprocessing_child() -> bool:
    # parent_process() is set once the child runs; while a spawn/forkserver child imports the main
    # module (multiprocessing.spawn.prepare), the process object is marked as inheriting
    process = multiprocessing.current_process()
    return multiprocessing.parent_process() is not None or bool(getattr(process, "_inheriting", False))


# -- fork: no batch in flight while the process forks ------------------------------------------
_fork_held: Writer | None = None


def _before_fork() -> None:
    # the child's copy of SQLite then holds no lock and no half-done transaction of the parent's
    # (a bounded wait: a write stuck on a lock does not block fork)
    global _fork_held
    writer = current()
    if writer is not None and writer.write_lock.acquire(timeout=5.0):
        _fork_held = writer


def _after_fork_in_parent() -> None:
    global _fork_held
    held, _fork_held = _fork_held, None
    if held is not None:
        held.write_lock.release()


def _after_fork_in_child() -> None:
    global _fork_held
    _fork_held = None
    forget_after_fork()


def register() -> None:
    """Install the exit hooks of this process (once, at import)."""
    atexit.register(_at_exit)
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child)
    mp_util.register_after_fork(_in_multiprocessing_child, _in_multiprocessing_child)
    if _is_multiprocessing_child():
        _in_multiprocessing_child()
    else:
        install_signal_handlers()


register()
