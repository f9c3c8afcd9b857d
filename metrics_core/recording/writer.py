"""Recording calls: ``record_request()`` on the caller's thread, a background writer behind it.

The caller's thread only validates its arguments and appends a tuple to a bounded in-memory queue
(about a microsecond). A daemon thread writes batches: one transaction per batch holding the raw
rows, the daily rollups (per model, per tag, latency histogram) and the circuit breakers. Pricing,
timestamps, redaction and provider registration all happen there, in one pass per batch
(``write_batch``; on SQLite straight to the driver).

Storage faults (locked, read-only, full, server gone) never reach the caller: the writer keeps
the batch and retries with back-off while new records wait in the queue; a batch that fails for
another reason is halved until the one bad record is found and dropped. When the queue is full,
the *newest* records are dropped (the ones already queued keep their place), counted, logged and
written to ``llm_recorder_faults`` once the database is back, where ``get_health()`` and the
dashboard show them. ``QUEUED_RECORD_BYTES`` and ``MAX_QUEUED_RECORD_BYTES`` bound the memory a
queued record takes (measured by ``bench/bench_recorder.py``).

``flush()`` writes everything queued so far; it runs at interpreter exit, on SIGTERM and SIGHUP, at
the exit of ``multiprocessing`` children (``process_hooks``). Reads made through metrics_core
first wait for this process's queued records, briefly (``flush_for_read``: at most
``READ_FLUSH_TIMEOUT``, not at all while writes are failing), so they see every record made before
them when the database takes writes and never stall when it does not. ``fork()`` waits for the
batch in flight; the child starts with an empty queue and its own writer, and the parent's
pending rows are written by the parent only.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import deque

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from .. import storage
from ..clock import utc_now
from ..config import settings
from ..errors import DatabaseUnavailable
from ..pricing import Pricer
from . import dedupe, spill, usage_notes
from .batch import write_batch
from .registry import ProviderCache

log = logging.getLogger("metrics_core")


def is_storage_fault(exc: BaseException) -> bool:
    """Faults of the storage (locked, read-only, full, gone) rather than of the data."""
    if isinstance(exc, (OperationalError, InterfaceError, DatabaseUnavailable, OSError)):  # OSError: the file
        return True
    if isinstance(exc, DBAPIError):
        return exc.connection_invalidated
    # errors of the driver itself (write_batch hands SQLite rows to it directly)
    return any(cls.__name__ in ("OperationalError", "InterfaceError") for cls in type(exc).__mro__)


class Writer:
    """A bounded queue and the daemon thread that empties it into the database."""

    def __init__(
        self, url: str, *, queue_size: int, batch_size: int, interval: float, sync: bool, error_max_chars: int = 1000
    ) -> None:
        self.url = url
        self.queue_size = queue_size
        self.batch_size = batch_size
        self.interval = interval
        self.sync = sync
        self.error_max_chars = error_max_chars
        self.queue: deque = deque()
        self.wake = threading.Event()  # a batch is full, or flush() waits
        self.retry = threading.Event()  # flush() waits: retry a failed write now, not after the back-off
        self.done = threading.Condition()
        self.put_lock = threading.Lock()
        self.write_lock = threading.Lock()  # one batch at a time (thread or write_now); held across fork()
        self.enqueued = 0  # items accepted into the queue
        self.finished = 0  # queued items written, or given up on
        self.dropped = 0  # items refused (queue full) or given up on (write kept failing)
        self.dropped_unreported = 0
        self.write_errors = 0
        self.last_error: str | None = None
        self.providers = ProviderCache()
        self.overrides: dict = {}
        self.pricer = Pricer()
        self.thread: threading.Thread | None = None
        self.stopping = False
        self.failing = False  # the last write hit a storage fault and none has succeeded since
        self.attempt_started: float | None = None  # monotonic start of a write waiting for the database
        self.write_started: float | None = None  # monotonic start of the write in progress
        self.last_written_at: float | None = None  # monotonic time the last batch was stored
        self.opening = False  # a write is opening the database (engine, schema check)
        self.lost_checked_at: float | None = None  # when spill files (records lost at exit) were looked for

    # -- the caller's side -------------------------------------------------------------------
    def put(self, item: tuple) -> None:
        queue = self.queue
        with self.put_lock:
            if len(queue) >= self.queue_size:
                full = True
            else:
                full = False
                queue.append(item)
                self.enqueued += 1
        if full:
            self._drop(1, "the queue is full")
            return
        if self.thread is None:
            self._start_thread()
        if len(queue) >= self.batch_size and not self.wake.is_set():
            self.wake.set()

    def write_now(self, item: tuple) -> None:
        """Synchronous mode: write this item before returning; on a storage fault, queue it."""
        try:
            with self.write_lock:
                self._write([item])
            return
        except Exception as exc:  # recording never breaks the caller
            self._note_error(exc)
        self.put(item)

    def _drop(self, n: int, why: str) -> None:
        with self.done:
            self.dropped += n
            self.dropped_unreported += n
            total = self.dropped
        if total == n or total % 1000 < n:
            log.warning("llm-metrics dropped %d record(s) (%s); %d dropped so far", n, why, total)

    # -- the writer's side -------------------------------------------------------------------
    def _start_thread(self) -> bool:
        # a timeout, not a plain `with`: flush() may run in a signal handler that interrupted put()
        if not self.put_lock.acquire(timeout=1.0):
            return False
        try:
            if self.thread is None or not self.thread.is_alive():
                thread = threading.Thread(target=self._run, name="llm-metrics-writer", daemon=True)
                thread.start()  # RuntimeError at interpreter shutdown (Python >= 3.12): flush() writes inline
                self.thread = thread
            return True
        except RuntimeError:
            return False
        finally:
            self.put_lock.release()

    def _run(self) -> None:
        queue = self.queue
        while True:
            try:
                if not queue:
                    if self.stopping:
                        return
                    self.wake.wait(max(self.interval, 0.005))  # LLM_METRICS_FLUSH_INTERVAL=0: no busy loop
                    self.wake.clear()
                    continue
                self._write_batch(self._take())
            except Exception:  # a bug of this module: keep the writer alive, say so
                log.exception("llm-metrics writer: unexpected error")
                time.sleep(1.0)

    def _take(self) -> list[tuple]:
        queue, n = self.queue, min(len(self.queue), self.batch_size)
        return [queue.popleft() for _ in range(n)]

    def _write_batch(self, batch: list[tuple], attempts: int = 3) -> None:
        """Write ``batch``, retrying storage faults with back-off until they clear. A batch that keeps
        failing for another reason is split in halves, so one bad record costs only itself."""
        backoff = 0.05
        failures = 0
        while True:
            try:
                try:
                    with self.write_lock:
                        self._write(batch, timed=True)
                finally:
                    self.attempt_started = self.write_started = None
                self.failing = False
                self.last_written_at = time.monotonic()
                self._finish(len(batch))
                return
            except Exception as exc:  # recording never breaks the caller
                self._note_error(exc)
                if is_storage_fault(exc):
                    self.failing = True
                    if self.stopping:
                        self._give_up(batch, "the writer was stopped while the database was unavailable")
                        return
                else:
                    failures += 1
                    if failures >= attempts:
                        break
                self.retry.wait(backoff)
                self.retry.clear()
                backoff = min(backoff * 2, MAX_BACKOFF)
        if len(batch) == 1:
            self._give_up(batch, f"write failed: {self.last_error}")
            return
        middle = len(batch) // 2
        self._write_batch(batch[:middle], attempts=1)
        self._write_batch(batch[middle:], attempts=1)

    def _give_up(self, batch: list[tuple], why: str) -> None:
        log.error("llm-metrics gave up on %d record(s): %s", len(batch), why)
        self._drop(len(batch), why)
        self._finish(len(batch))

    def _finish(self, n: int) -> None:
        with self.done:
            self.finished += n
            self.done.notify_all()

    def _write(self, batch: list[tuple], timed: bool = False) -> None:
        self.opening = True  # opening the database (and checking its schema) may itself wait on it
        try:
            engine = storage.get_engine(self.url)
        finally:
            self.opening = False
        if timed:  # from here until the database lets the transaction in, and until done (``stalled``)
            self.attempt_started = self.write_started = time.monotonic()
        write_batch(engine, batch, self.providers, self.overrides, self.pricer, on_begun=self._begun)
        if self.dropped_unreported:
            self._report_drops(engine)
        if self.lost_checked_at is None or time.monotonic() - self.lost_checked_at > SPILL_CHECK_INTERVAL:
            self.lost_checked_at = time.monotonic()
            try:
                spill.store_spilled(engine, self.url)
            except Exception:  # never fails the batch just written
                log.exception("llm-metrics could not store the spilled counts of lost records")
        run_after_write_hooks(self.url)

    def _report_drops(self, engine) -> None:
        with self.done:
            n, self.dropped_unreported = self.dropped_unreported, 0
        try:
            with engine.begin() as conn:
                conn.execute(
                    storage.recorder_faults.insert().values(
                        at=utc_now(),
                        process=f"{socket.gethostname()}:{os.getpid()}",
                        kind="dropped",
                        count=n,
                        detail=self.last_error,
                    )
                )
        except Exception:  # try again after the next batch
            with self.done:
                self.dropped_unreported += n

    def _note_error(self, exc: BaseException) -> None:
        self.write_errors += 1
        self.last_error = f"{exc.__class__.__name__}: {exc}"[:500]
        if self.write_errors == 1 or self.write_errors % 100 == 0:
            log.warning(
                "llm-metrics could not write to %s (will retry): %s", storage.db_label(self.url), self.last_error
            )

    def pending(self) -> int:
        return self.enqueued - self.finished

    def _begun(self) -> None:
        self.attempt_started = None  # the database let the transaction in: the rest is our own work

    def stalled(self) -> bool:
        """Writes are failing: the last one hit a storage fault, or the one in progress has waited for
        the database to let it in for longer than ``STALLED_AFTER`` seconds (a SQLite lock held
        elsewhere, a server not answering), or has run for longer than ``STALLED_WRITE_AFTER`` (a lock
        inside a server)."""
        now = time.monotonic()
        waiting, writing = self.attempt_started, self.write_started
        return (
            self.failing
            or (waiting is not None and now - waiting > STALLED_AFTER)
            or (writing is not None and now - writing > STALLED_WRITE_AFTER)
        )

    def flush_for_read(self, timeout: float) -> int:
        """Before a read: wait for the records queued so far while the writer makes progress, at most
        ``timeout`` seconds, and not at all once writes are stalled (a read never waits for a write
        that cannot happen). Returns how many records are still unwritten: missing from the read."""
        target = self.enqueued
        if self.finished >= target:
            return 0
        if self.thread is None or not self.thread.is_alive():
            self._start_thread()
        deadline = time.monotonic() + timeout
        with self.done:
            while self.finished < target and not self.stalled():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self.wake.set()
                self.done.wait(min(remaining, 0.02))
        return self.pending()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything queued before this call is written; False on timeout."""
        target = self.enqueued
        if self.finished >= target:
            return True
        deadline = None if timeout is None else time.monotonic() + timeout
        thread = self.thread
        if (thread is None or not thread.is_alive()) and not self._start_thread():
            return self._flush_inline(target, deadline)
        self.retry.set()
        with self.done:
            while self.finished < target:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self.wake.set()
                self.done.wait(0.05 if remaining is None else min(remaining, 0.05))
        return True

    def abandon(self, wait: float = 2.0) -> int:
        """Stop writing and forget what is queued (a process that is leaving): how many records are
        lost, counting the queued ones, a batch still in flight after ``wait`` seconds, and drops not
        yet stored in ``llm_recorder_faults``."""
        self.stopping = True
        locked = self.put_lock.acquire(timeout=1.0)  # a signal handler may have interrupted put()
        try:
            self.queue.clear()
        finally:
            if locked:
                self.put_lock.release()
        self.retry.set()
        self.wake.set()
        if self.write_lock.acquire(timeout=wait):  # the batch in flight lands or is given up on
            self.write_lock.release()
        with self.done:
            lost = self.enqueued - self.finished + self.dropped_unreported
            self.dropped += self.enqueued - self.finished
            self.finished = self.enqueued
            self.dropped_unreported = 0
        return lost

    def _flush_inline(self, target: int, deadline: float | None) -> bool:
        """No writer thread can run (interpreter shutdown): write in the calling thread."""
        while self.finished < target and self.queue:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            batch = self._take()
            try:
                with self.write_lock:
                    self._write(batch)
                self._finish(len(batch))
            except Exception as exc:  # recording never breaks the caller
                self._note_error(exc)
                self.queue.extendleft(reversed(batch))
                time.sleep(0.1)
        return self.finished >= target


MAX_BACKOFF = 2.0  # seconds between retries of a write that hit a storage fault, at most
SPILL_CHECK_INTERVAL = 60.0  # seconds between looks for spill files of other processes
STALLED_AFTER = 0.5  # seconds a write may wait for the database before reads stop waiting and health says so
STALLED_WRITE_AFTER = 2.0  # seconds a whole write may take before the same


#: callables run with the database URL after each stored batch (alerts register one at the top of
#: the package: recording never imports the layers above it)
AFTER_WRITE_HOOKS: list = []


def add_after_write_hook(hook) -> None:
    """Run ``hook(url)`` after every stored batch (once per hook; it must return quickly and not raise)."""
    if hook not in AFTER_WRITE_HOOKS:
        AFTER_WRITE_HOOKS.append(hook)


def run_after_write_hooks(url: str) -> None:
    """Run the after-write hooks; a failing hook is logged, never raised (hooks never break recording)."""
    for hook in AFTER_WRITE_HOOKS:
        try:
            hook(url)
        except Exception:
            log.exception("llm-metrics after-write hook failed")


_writer: Writer | None = None
_writer_lock = threading.Lock()


def get_writer() -> Writer:
    """This process's writer, made from the settings on first use."""
    global _writer
    if _writer is not None:
        return _writer
    with _writer_lock:
        if _writer is None:
            cfg = settings()
            _writer = Writer(
                cfg.db_url,
                queue_size=cfg.queue_size,
                batch_size=cfg.batch_size,
                interval=cfg.flush_interval_seconds,
                sync=cfg.sync,
                error_max_chars=cfg.error_max_chars,
            )
        return _writer


def current() -> Writer | None:
    """This process's writer, or None before the first record."""
    return _writer


def flush(timeout: float | None = 30.0) -> bool:
    """Write every record queued so far and wait for it (True), or give up after ``timeout`` (False)."""
    writer = _writer
    return True if writer is None else writer.flush(timeout)


#: seconds a read waits for this process's queued records while the writer makes progress, at most
#: (then it answers without them); while writes are stalled it does not wait at all
READ_FLUSH_TIMEOUT = 2.0


def flush_for_read(timeout: float = READ_FLUSH_TIMEOUT) -> int:
    """Flush before a read, bounded (``Writer.flush_for_read``); the records the read will miss."""
    writer = _writer
    return 0 if writer is None else writer.flush_for_read(timeout)


def refresh_caches() -> None:
    """Make this process's writer read price overrides and provider types again before its next batch."""
    writer = _writer
    if writer is not None:
        writer.overrides.clear()


def stats() -> dict:
    """This process's writer counters: queued, dropped (and not yet stored in llm_recorder_faults), write
    errors, last error, whether queued records are waiting on a failing database (``failing``),
    records dropped as duplicates of a response already recorded, and the usage notes (sources that
    never send some usage fields, ``usage_notes``)."""
    writer = _writer
    if writer is None:
        counts = {
            "queued": 0,
            "dropped": 0,
            "unreported_drops": 0,
            "write_errors": 0,
            "last_error": None,
            "failing": False,
        }
    else:
        counts = {
            "queued": writer.pending(),
            "failing": writer.pending() > 0 and writer.stalled(),
            "dropped": writer.dropped,
            "unreported_drops": writer.dropped_unreported,
            "write_errors": writer.write_errors,
            "last_error": writer.last_error,
        }
    return {**counts, "duplicates": dedupe.duplicates(), "usage_notes": usage_notes.notes()}


def reset(flush_first: bool = True) -> None:
    """Flush and forget the writer, so the next record reads the settings again (tests, reconfiguration);
    forget the response ids seen and the usage notes, too."""
    global _writer
    dedupe.configure()
    usage_notes.reset()
    with _writer_lock:
        writer, _writer = _writer, None
    if writer is not None:
        if flush_first:
            writer.flush(10)
        writer.stopping = True
        writer.wake.set()
        writer.retry.set()


def forget_after_fork() -> None:
    """In a forked child: drop the parent's writer (its queue and thread are the parent's, which
    writes its pending rows once); the child makes its own on its first record."""
    global _writer, _writer_lock
    _writer = None
    _writer_lock = threading.Lock()
