"""Recording: validate a call on the caller's thread, queue it, and write it in the background.

``record_request`` (validation in ``validate``), the writer thread with its retries, exit and fork
hooks and after-write hooks (``writer``), exit, signal and multiprocessing hooks (``process_hooks``),
counts of records lost at exit (``spill``), one batch -> one transaction (``batch``), the provider
registry (``registry``), the circuit breaker (``circuit_breaker``), redaction (``redact``),
``track()`` (``tracking``), price overrides, stored price data (``price_data``) and repricing, the
response-id dedupe (``dedupe``) and the usage-completeness notes (``usage_notes``).
"""

from . import (
    process_hooks,  # noqa: F401  (installs the exit, signal and multiprocessing hooks)
    usage_notes,
)
from .record import record_request
from .tracking import Call, current_call, track
from .validate import MAX_QUEUED_RECORD_BYTES, QUEUED_RECORD_BYTES, STATUSES
from .writer import (
    Writer,
    add_after_write_hook,
    current,
    flush,
    flush_for_read,
    get_writer,
    refresh_caches,
    reset,
    stats,
)

add_after_write_hook(usage_notes.report)  # usage notes reach llm_recorder_faults after stored batches

__all__ = [
    "MAX_QUEUED_RECORD_BYTES",
    "QUEUED_RECORD_BYTES",
    "STATUSES",
    "Call",
    "Writer",
    "add_after_write_hook",
    "current",
    "current_call",
    "flush",
    "flush_for_read",
    "get_writer",
    "record_request",
    "refresh_caches",
    "reset",
    "stats",
    "track",
]
