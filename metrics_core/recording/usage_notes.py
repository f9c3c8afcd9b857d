"""Usage-completeness notes: which instrumentations recorded calls without some usage fields.

An instrumentation that never sends cached tokens (the official ``openai-v2``, LiteLLM's ``otel``
callback, OpenLIT) makes every cached input token look fresh, so the cost computed from its calls
may be overstated. The span mapping knows the source of each call and what it never sends; it
calls :func:`note` for each call it records. The counts are kept per process (:func:`notes`,
shown in ``recording.stats()``) and, after the next stored batch, at most once a minute, written
to ``llm_recorder_faults`` (kind ``usage_incomplete``, detail ``{"source": ..., "missing": [...]}``)
so that the dashboard, another process, can say so for a window (``queries.sources``).

The record itself does not carry its source (tags are the user's; no column holds it): the note
says which sources recorded calls in a window and how many, not which call came from which.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Iterable

from .. import storage
from ..clock import utc_now

KIND = "usage_incomplete"
REPORT_EVERY_SECONDS = 60.0

log = logging.getLogger("metrics_core")

_lock = threading.Lock()
_calls: dict[str, int] = {}  # source -> calls noted since the process started
_missing: dict[str, tuple[str, ...]] = {}  # source -> the usage fields it never sends
_unreported: dict[str, int] = {}  # source -> calls not yet written to llm_recorder_faults
_next_report = 0.0


def note(source: str, missing: Iterable[str], calls: int = 1) -> None:
    """Count ``calls`` recorded from ``source``, which never sends the usage fields ``missing``."""
    missing = tuple(sorted(missing))
    if not missing or calls <= 0:
        return
    with _lock:
        _calls[source] = _calls.get(source, 0) + calls
        _missing[source] = missing
        _unreported[source] = _unreported.get(source, 0) + calls


def notes() -> dict[str, dict]:
    """This process's notes: ``{source: {"missing": [...], "calls": n}}``."""
    with _lock:
        return {s: {"missing": list(_missing[s]), "calls": n} for s, n in sorted(_calls.items())}


def report(url: str, *, force: bool = False) -> None:
    """After-write hook: write the unreported notes to ``llm_recorder_faults`` (at most once a minute)."""
    global _next_report
    now = time.monotonic()
    if not _unreported or (now < _next_report and not force):
        return
    with _lock:
        pending = dict(_unreported)
        _unreported.clear()
        _next_report = now + REPORT_EVERY_SECONDS
    process = f"{socket.gethostname()}:{os.getpid()}"
    rows = [
        {
            "at": utc_now(),
            "process": process,
            "kind": KIND,
            "count": n,
            "detail": json.dumps({"source": source, "missing": list(_missing[source])}),
        }
        for source, n in sorted(pending.items())
    ]
    try:
        with storage.get_engine(url).begin() as conn:
            conn.execute(storage.recorder_faults.insert(), rows)
    except Exception as exc:  # keep them for the next batch
        log.warning("llm-metrics could not store usage notes (will retry): %s", exc.__class__.__name__)
        with _lock:
            for source, n in pending.items():
                _unreported[source] = _unreported.get(source, 0) + n


def reset() -> None:
    """Forget every note (tests)."""
    global _next_report
    with _lock:
        _calls.clear()
        _missing.clear()
        _unreported.clear()
        _next_report = 0.0
