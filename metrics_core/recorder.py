"""Recording calls: ``record_request()`` on the caller's thread, a background writer behind it.

The caller's thread only validates its arguments and appends a tuple to a bounded in-memory queue
(a few microseconds). A daemon thread writes batches: one transaction per batch holding the raw
rows, the daily rollups (per model, per tag, latency histogram) and the circuit breakers. Pricing,
timestamps, redaction and provider registration all happen there.

Storage faults (locked, read-only, full, server gone) never reach the caller: the writer keeps
the batch and retries with back-off while new records wait in the queue. When the queue is full,
the *newest* records are dropped (the ones already queued keep their place), counted, logged and
written to ``llm_recorder_faults`` once the database is back, where ``get_health()`` and the
dashboard show them.

``flush()`` writes everything queued so far; it runs at interpreter exit, at the exit of
``multiprocessing`` children, and before every read made through metrics_core, so reads in the
same process see every record made before them. A forked child starts with an empty queue and its
own writer: the parent's pending rows are written by the parent only.
"""

from __future__ import annotations

import atexit
import json
import logging
import math
import os
import socket
import threading
import time
from collections import defaultdict, deque
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, OperationalError

from . import db, health, rollup
from .config import settings
from .pricing import PriceOverride, TokenUsage, price_call, reference_cost
from .redact import clean_error

log = logging.getLogger("metrics_core")

STATUSES = ("success", "failed", "timeout", "rate_limited", "cancelled")
_STATUS_SET = frozenset(STATUSES)
_TOKEN_FIELDS = ("prompt_tokens", "completion_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens")
MAX_NAME = 100
MAX_MODEL = 200
MAX_ENDPOINT = 500
MAX_TAGS = 20
MAX_TAG_KEY = 100
MAX_TAG_VALUE = 200


def _tokens(name: str, value) -> int:
    if type(value) is int:  # the common case, fast
        if value < 0:
            raise ValueError(f"{name} must be a whole number >= 0, got {value!r}")
        return value
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise ValueError(f"{name} must be a whole number >= 0, got {value!r}")
    value = value.__index__()  # numpy integers and friends
    if value < 0:
        raise ValueError(f"{name} must be a whole number >= 0, got {value!r}")
    return value


def _seconds(name: str, value) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            value = float(value)  # Decimal, numpy floats
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a number of seconds >= 0 or None, got {value!r}") from None
    if not (value >= 0) or math.isinf(value):
        raise ValueError(f"{name} must be a finite number of seconds >= 0 or None, got {value!r}")
    return float(value)


def _name(field: str, value, max_len: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{field} must be a non-empty string, got {value!r}")
    if len(value) > max_len:
        raise ValueError(f"{field} must be at most {max_len} characters, got {len(value)}")
    return value


def _tags(tags) -> dict[str, str] | None:
    if tags is None:
        return None
    if not isinstance(tags, dict):
        raise ValueError(f"tags must be a dict of str to str, got {type(tags).__name__}")
    if len(tags) > MAX_TAGS:
        raise ValueError(f"tags may hold at most {MAX_TAGS} entries, got {len(tags)}")
    for key, value in tags.items():
        if not isinstance(key, str) or not key or len(key) > MAX_TAG_KEY:
            raise ValueError(f"tags keys must be non-empty strings of at most {MAX_TAG_KEY} characters, got {key!r}")
        if not isinstance(value, str) or len(value) > MAX_TAG_VALUE:
            raise ValueError(f"tags[{key!r}] must be a string of at most {MAX_TAG_VALUE} characters, got {value!r}")
    return dict(tags) if tags else None


def record_request(
    *,
    provider_name: str,
    model: str,
    status: str,
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    duration_seconds: float | None = None,
    endpoint: str | None = None,
    error_message: str | None = None,
    cache_read_tokens: int = 0,
    cache_write_tokens: int = 0,
    reasoning_tokens: int = 0,
    time_to_first_token_seconds: float | None = None,
    tags: dict[str, str] | None = None,
    timestamp: datetime | None = None,
    sync: bool | None = None,
) -> None:
    """Record one LLM call. Cheap: validates, queues, returns; a background thread writes it.

    Args:
        provider_name: ``ollama``, ``localai``, ``claude``, ``openai`` or any other name (a new
            name is registered on first use: remote, unless listed in LLM_METRICS_LOCAL_PROVIDERS).
        model: the model name as sent to the provider.
        status: one of ``success``, ``failed``, ``timeout``, ``rate_limited``, ``cancelled``.
        prompt_tokens: every input token, cache reads and writes included.
        completion_tokens: every output token, reasoning tokens included.
        duration_seconds: wall time of the call.
        endpoint: the API path called, e.g. ``/v1/messages``.
        error_message: what went wrong (secrets are redacted and the text truncated when stored).
        cache_read_tokens: how many of ``prompt_tokens`` were read from the provider's cache.
        cache_write_tokens: how many of ``prompt_tokens`` were written to the cache.
        reasoning_tokens: how many of ``completion_tokens`` were reasoning.
        time_to_first_token_seconds: for streams, the wait for the first token.
        tags: labels such as ``{"project": "search", "user": "ana"}``.
        timestamp: when the call started (timezone-aware); default now.
        sync: True writes before returning; default from LLM_METRICS_SYNC.

    Raises:
        ValueError: an argument is invalid; nothing is recorded. Storage faults never raise.
    """
    if (
        provider_name.__class__ is not str
        or not provider_name
        or len(provider_name) > MAX_NAME
        or provider_name.isspace()
    ):
        _name("provider_name", provider_name, MAX_NAME)
    if model.__class__ is not str or not model or len(model) > MAX_MODEL or model.isspace():
        _name("model", model, MAX_MODEL)
    if status not in _STATUS_SET:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}; got {status!r}")
    prompt_tokens = _tokens("prompt_tokens", prompt_tokens)
    completion_tokens = _tokens("completion_tokens", completion_tokens)
    if cache_read_tokens or cache_write_tokens or reasoning_tokens:
        cache_read_tokens = _tokens("cache_read_tokens", cache_read_tokens)
        cache_write_tokens = _tokens("cache_write_tokens", cache_write_tokens)
        reasoning_tokens = _tokens("reasoning_tokens", reasoning_tokens)
        if cache_read_tokens + cache_write_tokens > prompt_tokens:
            raise ValueError(
                "cache_read_tokens + cache_write_tokens must not exceed prompt_tokens (prompt_tokens counts "
                f"every input token, cached ones included); got {cache_read_tokens} + {cache_write_tokens} > "
                f"{prompt_tokens}. For Anthropic, prompt_tokens = input_tokens + cache_creation_input_tokens "
                "+ cache_read_input_tokens."
            )
        if reasoning_tokens > completion_tokens:
            raise ValueError(
                f"reasoning_tokens must not exceed completion_tokens (which include them); got {reasoning_tokens} > "
                f"{completion_tokens}"
            )
    else:
        cache_read_tokens = cache_write_tokens = reasoning_tokens = 0
    if duration_seconds is not None and (
        duration_seconds.__class__ is not float or not 0 <= duration_seconds < math.inf
    ):
        duration_seconds = _seconds("duration_seconds", duration_seconds)
    if time_to_first_token_seconds is not None:
        time_to_first_token_seconds = _seconds("time_to_first_token_seconds", time_to_first_token_seconds)
    if endpoint is not None and (not isinstance(endpoint, str) or len(endpoint) > MAX_ENDPOINT):
        raise ValueError(f"endpoint must be a string of at most {MAX_ENDPOINT} characters or None, got {endpoint!r}")
    if error_message is not None and not isinstance(error_message, str):
        error_message = str(error_message)
    if tags is not None:
        tags = _tags(tags)
    if timestamp is not None and (
        not isinstance(timestamp, datetime) or timestamp.tzinfo is None or timestamp.utcoffset() is None
    ):
        raise ValueError(f"timestamp must be a timezone-aware datetime or None, got {timestamp!r}")
    item = (
        provider_name,
        model,
        status,
        endpoint,
        prompt_tokens,
        completion_tokens,
        cache_read_tokens,
        cache_write_tokens,
        reasoning_tokens,
        duration_seconds,
        time_to_first_token_seconds,
        error_message,
        tags,
        timestamp,
        time.time(),
    )
    writer = _writer or _start_writer()
    if sync or (sync is None and writer.sync):
        writer.write_now(item)
    else:
        writer.put(item)


def _utc_naive(timestamp: datetime | None, fallback: float) -> datetime:
    if timestamp is None:
        return datetime.fromtimestamp(fallback, UTC).replace(tzinfo=None)
    return timestamp.astimezone(UTC).replace(tzinfo=None)


class _ProviderCache:
    """Provider name -> (id, provider_type, pricing_provider), registering unknown names."""

    def __init__(self) -> None:
        self.by_name: dict[str, tuple[int, str, str | None]] = {}

    def resolve(self, conn, names: set[str], now: datetime) -> dict[str, tuple[int, str, str | None]]:
        missing = names - self.by_name.keys()
        if missing:
            self._load(conn, missing)
            still = missing - self.by_name.keys()
            if still:
                register_providers(conn, still, now)
                self._load(conn, still)
        return self.by_name

    def _load(self, conn, names) -> None:
        p = db.providers
        rows = conn.execute(
            select(p.c.id, p.c.name, p.c.provider_type, p.c.pricing_provider).where(p.c.name.in_(names))
        )
        for row in rows:
            self.by_name[row.name] = (row.id, row.provider_type, row.pricing_provider)


def register_providers(conn, names, now: datetime) -> None:
    """Add providers by name (remote unless configured local), each with a health row."""
    cfg = settings()
    p = db.providers
    for name in sorted(names):
        local = name in cfg.local_providers
        priority = conn.execute(select(p.c.priority).order_by(p.c.priority.desc()).limit(1)).scalar() or 0
        exists = conn.execute(select(p.c.id).where(p.c.name == name)).scalar()
        if exists is not None:
            continue
        new_id = conn.execute(
            p.insert().values(
                name=name,
                display_name=name,
                provider_type="local" if local else "remote",
                pricing_provider=None if local else cfg.pricing_providers.get(name.lower(), name.lower()),
                priority=priority + 1,
                enabled=True,
                created_at=now,
            )
        ).inserted_primary_key[0]
        conn.execute(
            db.provider_health.insert().values(
                provider_id=new_id, is_available=True, circuit_state="closed", failure_count=0, updated_at=now
            )
        )


OVERRIDES_TTL = 30  # seconds before the writer reads price overrides and provider types again


def load_overrides(conn) -> dict[tuple[str, str], PriceOverride]:
    o = db.price_overrides
    result = {}
    for row in conn.execute(select(o).order_by(o.c.id)):
        result[(row.provider_name, row.model)] = PriceOverride(
            Decimal(row.input_mtok),
            Decimal(row.output_mtok),
            None if row.cache_read_mtok is None else Decimal(row.cache_read_mtok),
            None if row.cache_write_mtok is None else Decimal(row.cache_write_mtok),
        )
    return result


def write_batch(engine, items: list[tuple], providers: _ProviderCache, overrides_state: dict) -> None:
    """Write queued items in one transaction: raw rows, rollups, circuit breakers."""
    cfg = settings()
    now = datetime.now(UTC).replace(tzinfo=None)
    with engine.connect() as conn, conn.execution_options(immediate=True).begin():
        if overrides_state.get("loaded_at", 0) < time.monotonic() - OVERRIDES_TTL:
            # price overrides and provider types (local/remote) changed elsewhere apply within the TTL
            overrides_state["map"] = load_overrides(conn)
            overrides_state["loaded_at"] = time.monotonic()
            providers.by_name.clear()
        overrides = overrides_state["map"]
        known = providers.resolve(conn, {it[0] for it in items}, now)
        ref_provider, ref_model, max_chars = cfg.reference_provider, cfg.reference_model, cfg.error_max_chars
        rows = []
        for name, model, status, endpoint, pt, ct, cr, cw, rt, dur, ttft, err, tags, ts, t0 in items:
            provider_id, provider_type, pricing_provider = known[name]
            at = _utc_naive(ts, t0)
            usage = TokenUsage(pt, ct, cr, cw, rt)
            override = (overrides.get((name, model)) or overrides.get(("*", model))) if overrides else None
            price = price_call(
                provider_type=provider_type,
                pricing_provider=pricing_provider,
                model=model,
                usage=usage,
                timestamp=at,
                override=override,
            )
            rows.append(
                {
                    "timestamp": at,
                    "provider_id": provider_id,
                    "model": model,
                    "status": status,
                    "endpoint": endpoint,
                    "prompt_tokens": pt,
                    "completion_tokens": ct,
                    "cache_read_tokens": cr,
                    "cache_write_tokens": cw,
                    "reasoning_tokens": rt,
                    "duration_ms": None if dur is None else dur * 1000.0,
                    "ttft_ms": None if ttft is None else ttft * 1000.0,
                    "cost_usd": price.cost_usd,
                    "reference_cost_usd": reference_cost(usage, at, provider=ref_provider, model=ref_model),
                    "price_source": price.source,
                    "error_message": None if err is None else clean_error(err, max_chars),
                    "tags": json.dumps(tags, sort_keys=True, ensure_ascii=False) if tags else None,
                }
            )
        rollup.insert_requests(conn, rows)
        rollup.add(conn, rollup.aggregate(rows))
        outcomes: dict[int, list] = defaultdict(list)
        for row in rows:
            outcomes[row["provider_id"]].append((row["timestamp"], row["status"]))
        health.apply_outcomes(conn, outcomes, now)


def is_storage_fault(exc: BaseException) -> bool:
    """Faults of the storage (locked, read-only, full, gone) rather than of the data."""
    return isinstance(exc, OperationalError) or (isinstance(exc, DBAPIError) and exc.connection_invalidated)


class Writer:
    """A bounded queue and the daemon thread that empties it into the database."""

    def __init__(self, url: str, *, queue_size: int, batch_size: int, interval: float, sync: bool) -> None:
        self.url = url
        self.queue_size = queue_size
        self.batch_size = batch_size
        self.interval = interval
        self.sync = sync
        self.queue: deque = deque()
        self.wake = threading.Event()
        self.done = threading.Condition()
        self.put_lock = threading.Lock()
        self.write_lock = threading.Lock()  # one batch at a time (thread or write_now)
        self.enqueued = 0  # items accepted into the queue
        self.finished = 0  # queued items written, or given up on
        self.dropped = 0  # items refused (queue full) or given up on (write kept failing)
        self.dropped_unreported = 0
        self.write_errors = 0
        self.last_error: str | None = None
        self.providers = _ProviderCache()
        self.overrides: dict = {}
        self.thread: threading.Thread | None = None
        self.stopping = False

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
        if len(queue) >= self.batch_size:
            self.wake.set()

    def write_now(self, item: tuple) -> None:
        """Synchronous mode: write this item before returning; on a storage fault, queue it."""
        try:
            with self.write_lock:
                self._write([item])
            return
        except Exception as exc:
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
    def _start_thread(self) -> None:
        with self.put_lock:
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name="llm-metrics-writer", daemon=True)
                self.thread.start()

    def _run(self) -> None:
        backoff = 0.05
        queue = self.queue
        while True:
            if not queue:
                if self.stopping:
                    return
                self.wake.wait(self.interval)
                self.wake.clear()
            batch = []
            while queue and len(batch) < self.batch_size:
                batch.append(queue.popleft())
            if not batch:
                continue
            attempts = 0
            while True:
                try:
                    with self.write_lock:
                        self._write(batch)
                    backoff = 0.05
                    self._finish(len(batch))
                    break
                except Exception as exc:
                    attempts += 1
                    self._note_error(exc)
                    if not is_storage_fault(exc) and attempts >= 3:
                        log.error(
                            "llm-metrics gave up on %d record(s) after %d attempts: %s", len(batch), attempts, exc
                        )
                        self._drop(len(batch), f"write failed: {exc.__class__.__name__}")
                        self._finish(len(batch))
                        break
                    time.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)

    def _finish(self, n: int) -> None:
        with self.done:
            self.finished += n
            self.done.notify_all()

    def _write(self, batch: list[tuple]) -> None:
        engine = db.get_engine(self.url)
        write_batch(engine, batch, self.providers, self.overrides)
        if self.dropped_unreported:
            self._report_drops(engine)
        _after_write_hook(self.url)

    def _report_drops(self, engine) -> None:
        with self.done:
            n, self.dropped_unreported = self.dropped_unreported, 0
        try:
            with engine.begin() as conn:
                conn.execute(
                    db.recorder_faults.insert().values(
                        at=datetime.now(UTC).replace(tzinfo=None),
                        process=f"{socket.gethostname()}:{os.getpid()}",
                        kind="dropped",
                        count=n,
                        detail=self.last_error,
                    )
                )
        except Exception:
            with self.done:
                self.dropped_unreported += n

    def _note_error(self, exc: BaseException) -> None:
        self.write_errors += 1
        self.last_error = f"{exc.__class__.__name__}: {exc}"[:500]
        if self.write_errors == 1 or self.write_errors % 100 == 0:
            log.warning("llm-metrics could not write to %s (will retry): %s", db_label(self.url), self.last_error)

    def pending(self) -> int:
        return self.enqueued - self.finished

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything queued before this call is written; False on timeout."""
        target = self.enqueued
        if self.finished >= target:
            return True
        if self.thread is None:
            self._start_thread()
        deadline = None if timeout is None else time.monotonic() + timeout
        with self.done:
            while self.finished < target:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self.wake.set()
                self.done.wait(0.05 if remaining is None else min(remaining, 0.05))
        return True


def _after_write_hook(url: str) -> None:
    """After a stored batch: let the alerts check run (``metrics_core.alerts.after_write`` returns at
    once; it runs at most once per interval, in its own thread). Never raises."""
    try:
        from .alerts import after_write

        after_write(url)
    except Exception:  # alerts never break recording
        log.exception("llm-metrics after-write hook failed")


def db_label(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


_writer: Writer | None = None
_writer_lock = threading.Lock()


def _start_writer() -> Writer:
    global _writer
    with _writer_lock:
        if _writer is None:
            cfg = settings()
            _writer = Writer(
                cfg.db_url,
                queue_size=cfg.queue_size,
                batch_size=cfg.batch_size,
                interval=cfg.flush_interval_seconds,
                sync=cfg.sync,
            )
        return _writer


def flush(timeout: float | None = 30.0) -> bool:
    """Write every record queued so far and wait for it (True), or give up after ``timeout`` (False)."""
    writer = _writer
    return True if writer is None else writer.flush(timeout)


def refresh_caches() -> None:
    """Make this process's writer read price overrides and provider types again before its next batch."""
    writer = _writer
    if writer is not None:
        writer.overrides.clear()


def stats() -> dict:
    """This process's writer counters: queued, dropped, write errors, last error."""
    writer = _writer
    if writer is None:
        return {"queued": 0, "dropped": 0, "write_errors": 0, "last_error": None}
    return {
        "queued": writer.pending(),
        "dropped": writer.dropped,
        "write_errors": writer.write_errors,
        "last_error": writer.last_error,
    }


def reset(flush_first: bool = True) -> None:
    """Flush and forget the writer, so the next record reads the settings again (tests, reconfiguration)."""
    global _writer
    with _writer_lock:
        writer, _writer = _writer, None
    if writer is not None:
        if flush_first:
            writer.flush(10)
        writer.stopping = True
        writer.wake.set()


def _at_exit() -> None:
    writer = _writer
    if writer is not None and writer.pending() and not writer.flush(timeout=10):
        log.error("llm-metrics lost %d record(s) at exit: the database stayed unavailable", writer.pending())


def _after_fork_in_child() -> None:
    # The parent's queue and thread are the parent's: the child starts afresh.
    global _writer, _writer_lock
    _writer = None
    _writer_lock = threading.Lock()


def _register_mp_exit_flush() -> None:
    """multiprocessing children leave through os._exit (no atexit): flush from its finalizers."""
    import multiprocessing.util as mp_util

    mp_util.register_after_fork(_at_exit, lambda _obj: mp_util.Finalize(None, _at_exit, exitpriority=100))


_register_mp_exit_flush()
atexit.register(_at_exit)
os.register_at_fork(after_in_child=_after_fork_in_child)
