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

``flush()`` writes everything queued so far; it runs at interpreter exit, at the exit of
``multiprocessing`` children (and on their SIGTERM), and before every read made through
metrics_core, so reads in the same process see every record made before them. ``fork()`` waits for
the batch in flight; the child starts with an empty queue and its own writer, and the parent's
pending rows are written by the parent only.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import signal
import socket
import threading
import time
from collections import Counter, deque
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import reduce
from itertools import repeat
from operator import add, is_

from sqlalchemy import Numeric, select
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from . import db, health, latency, rollup
from .config import settings
from .errors import DatabaseUnavailable
from .pricing import PriceOverride, Pricer, TokenUsage
from .redact import clean_error

log = logging.getLogger("metrics_core")

#: bytes a queued record takes, at most, without tags or error text (about 290 measured with tracemalloc)
QUEUED_RECORD_BYTES = 400
#: bytes the largest record validation lets in takes, at most: 20 tags of 100 + 200 characters, a
#: 500-character endpoint, error text kept to LLM_METRICS_ERROR_MAX_CHARS (1000) + ERROR_MARGIN characters
MAX_QUEUED_RECORD_BYTES = 64_000
#: characters of an error message kept on the caller's side beyond LLM_METRICS_ERROR_MAX_CHARS: the writer
#: redacts before it truncates, and a secret that starts inside the stored part is matched whole if it
#: is shorter than this
ERROR_MARGIN = 4096
STATUSES = ("success", "failed", "timeout", "rate_limited", "cancelled")
_STATUS_SET = frozenset(STATUSES)
_TOKEN_FIELDS = ("prompt_tokens", "completion_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens")
MAX_NAME = 100
MAX_MODEL = 200
MAX_ENDPOINT = 500
MAX_TAGS = 20
MAX_TAG_KEY = 100
MAX_TAG_VALUE = 200
#: upper bounds that keep every stored figure and rollup sum finite and within a 64-bit integer
MAX_TOKENS = 10**12
MAX_SECONDS = 10.0**7


def _tokens(name: str, value) -> int:
    if type(value) is int:  # the common case, fast
        if not 0 <= value <= MAX_TOKENS:
            raise ValueError(f"{name} must be a whole number >= 0 and <= {MAX_TOKENS}, got {value!r}")
        return value
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise ValueError(f"{name} must be a whole number >= 0, got {value!r}")
    value = value.__index__()  # numpy integers and friends
    if not 0 <= value <= MAX_TOKENS:
        raise ValueError(f"{name} must be a whole number >= 0 and <= {MAX_TOKENS}, got {value!r}")
    return value


def _seconds(name: str, value) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            value = float(value)  # Decimal, numpy floats
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a number of seconds >= 0 or None, got {value!r}") from None
    if not (0 <= value <= MAX_SECONDS):
        raise ValueError(
            f"{name} must be a finite number of seconds >= 0 and <= {MAX_SECONDS:g}, or None; got {value!r}"
        )
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
    _into: list | None = None,
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
        _into: internal (the HTTP API): append the validated record to this list instead of
            queueing it, so a whole batch is validated before any of it is written.

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
        duration_seconds.__class__ is not float or not 0 <= duration_seconds <= MAX_SECONDS
    ):
        duration_seconds = _seconds("duration_seconds", duration_seconds)
    if time_to_first_token_seconds is not None:
        time_to_first_token_seconds = _seconds("time_to_first_token_seconds", time_to_first_token_seconds)
    if endpoint is not None and (not isinstance(endpoint, str) or len(endpoint) > MAX_ENDPOINT):
        raise ValueError(f"endpoint must be a string of at most {MAX_ENDPOINT} characters or None, got {endpoint!r}")
    writer = _writer or _start_writer()
    if error_message is not None:
        if error_message.__class__ is not str:
            error_message = str(error_message)
        if len(error_message) > writer.error_max_chars + ERROR_MARGIN:  # bounded, redacted by the writer
            error_message = error_message[: writer.error_max_chars + ERROR_MARGIN]
    if tags is not None:
        tags = _tags(tags)
    if timestamp is not None and (
        not isinstance(timestamp, datetime) or timestamp.tzinfo is None or timestamp.utcoffset() is None
    ):
        raise ValueError(f"timestamp must be a timezone-aware datetime or None, got {timestamp!r}")
    if timestamp is not None:
        try:
            timestamp.astimezone(UTC)
        except OverflowError:
            raise ValueError(f"timestamp must be representable in UTC, got {timestamp!r}") from None
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
    if _into is not None:
        _into.append(item)
        return
    if sync or (sync is None and writer.sync):
        writer.write_now(item)
    else:
        writer.put(item)


class _ProviderCache:
    """Provider name -> (id, provider_type, pricing_provider), registering unknown names.

    Names read or registered inside a transaction are kept only once it commits (``commit()``): a
    rolled-back registration must not leave an id behind that no row has.
    """

    def __init__(self) -> None:
        self.by_name: dict[str, tuple[int, str, str | None]] = {}
        self.pending: dict[str, tuple[int, str, str | None]] = {}

    def resolve(self, conn, names: set[str], now: datetime) -> dict[str, tuple[int, str, str | None]]:
        self.pending = {}
        missing = names - self.by_name.keys()
        if not missing:
            return self.by_name
        self._load(conn, missing)
        still = missing - self.pending.keys()
        if still:
            register_providers(conn, still, now)
            self._load(conn, still)
        return {**self.by_name, **self.pending}

    def commit(self) -> None:
        self.by_name.update(self.pending)
        self.pending = {}

    def _load(self, conn, names) -> None:
        p = db.providers
        rows = conn.execute(
            select(p.c.id, p.c.name, p.c.provider_type, p.c.pricing_provider).where(p.c.name.in_(names))
        )
        for row in rows:
            self.pending[row.name] = (row.id, row.provider_type, row.pricing_provider)


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
        values = dict(
            name=name,
            display_name=name,
            provider_type="local" if local else "remote",
            pricing_provider=None if local else cfg.pricing_providers.get(name.lower(), name.lower()),
            priority=priority + 1,
            enabled=True,
            created_at=now,
        )
        if conn.dialect.name == "postgresql":
            # Another process may register the same name at the same moment: let one of them win.
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            stmt = pg_insert(p).values(**values).on_conflict_do_nothing(index_elements=["name"]).returning(p.c.id)
            new_id = conn.execute(stmt).scalar()
            if new_id is None:
                continue
        else:
            new_id = conn.execute(p.insert().values(**values)).inserted_primary_key[0]
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


_NUL = "\x00"


def _nul_free(value):
    if isinstance(value, str):
        return value.replace(_NUL, "\ufffd")
    if isinstance(value, dict):
        return {_nul_free(k): _nul_free(v) for k, v in value.items()}
    return value


def _without_nul(items: list[tuple]) -> list[tuple]:
    """PostgreSQL text cannot hold NUL characters: replace them (U+FFFD) rather than lose the batch."""
    out = []
    for it in items:
        name, model, _status, endpoint, *_counts, err, tags, _ts, _t0 = it
        texts = [name, model, endpoint, err]
        if tags:
            texts += [*tags.keys(), *tags.values()]
        if any(_NUL in t for t in texts if isinstance(t, str)):
            it = tuple(_nul_free(v) for v in it)
        out.append(it)
    return out


# llm_requests columns, in the order write_batch builds each row's values
_COLUMNS = (
    "timestamp",
    "provider_id",
    "model",
    "status",
    "endpoint",
    "prompt_tokens",
    "completion_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "duration_ms",
    "ttft_ms",
    "cost_usd",
    "reference_cost_usd",
    "price_source",
    "error_message",
    "tags",
)
_PG_COPY = "COPY llm_requests (" + ", ".join(f'"{c}"' for c in _COLUMNS) + ") FROM STDIN"  # "timestamp" quoted
_SQLITE_INSERT = f"INSERT INTO llm_requests ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
_UTC = UTC
_from_ts = datetime.fromtimestamp
_SOURCE_LOCAL, _SOURCE_OVERRIDE, _SOURCE_GENAI, _SOURCE_UNPRICED = "local", "override", "genai-prices", "unpriced"
_ZERO = Decimal(0)
_tags_json = json.JSONEncoder(sort_keys=True, ensure_ascii=False).encode  # json.dumps(tags, same options)


def write_batch(
    engine, items: list[tuple], providers: _ProviderCache, overrides_state: dict, pricer: Pricer | None = None
) -> None:
    """Write queued items in one transaction: raw rows, rollups, circuit breakers.

    The per-row work is one pass that prices each call (``pricing.Pricer``), builds the row's values
    and groups the rows by (day, provider, model) and by tags; the rollup measures are then summed
    per group column by column (``rollup.aggregate`` gives the same figures from raw rows, and
    ``rebuild`` uses it). SQLite rows go straight to the driver's ``executemany``.
    """
    cfg = settings()
    pricer = pricer or Pricer()
    now = datetime.now(_UTC).replace(tzinfo=None)
    with engine.connect() as conn, conn.execution_options(immediate=True).begin():
        if conn.dialect.name == "postgresql":
            items = _without_nul(items)
        if overrides_state.get("loaded_at", 0) < time.monotonic() - OVERRIDES_TTL:
            # price overrides and provider types (local/remote) changed elsewhere apply within the TTL
            overrides_state["map"] = load_overrides(conn)
            overrides_state["loaded_at"] = time.monotonic()
            providers.by_name.clear()
        known = providers.resolve(conn, {it[0] for it in items}, now)
        sqlite = conn.dialect.name == "sqlite"
        values, groups, tag_groups = _prepare(items, known, overrides_state["map"], pricer, cfg, sqlite)
        agg, all_ok = _aggregate(groups, tag_groups)
        if sqlite:
            cursor = conn.connection.driver_connection.cursor()
            try:
                cursor.executemany(_SQLITE_INSERT, values)
            finally:
                cursor.close()
        elif conn.dialect.driver == "psycopg":
            # COPY: the whole batch in one round trip, several times faster than an executemany
            with (
                conn.connection.driver_connection.cursor() as cursor,
                cursor.copy(_PG_COPY) as copy,
            ):
                for row in values:
                    copy.write_row(row)
        else:
            conn.execute(
                db.requests.insert(),
                [dict(zip(_COLUMNS, (datetime.fromisoformat(v[0]), *v[1:]), strict=True)) for v in values],
            )
        if sqlite:
            _add_rollups_sqlite(conn, agg)
        else:
            rollup.add(conn, agg)
        _apply_health(conn, groups, all_ok, values, now)
    providers.commit()


def _prepare(items, known, overrides, pricer: Pricer, cfg, sqlite: bool):
    """Each item's llm_requests values, and its rollup inputs grouped by (day, provider, model [, tags])."""
    catalog = pricer.catalog
    ref_provider, ref_model, max_chars = cfg.reference_provider, cfg.reference_model, cfg.error_max_chars
    values = []
    groups: dict[tuple, tuple[list, list]] = {}  # (day, provider id, model) -> (measure inputs, timestamps)
    tag_groups: dict[tuple, list] = {}  # (day, provider id, model, tags json) -> measure inputs
    tags_text: dict[tuple, str] = {}  # tags items -> their JSON
    seconds: dict[int, str] = {}  # whole epoch second -> "YYYY-MM-DD HH:MM:SS"
    for name, model, status, endpoint, pt, ct, cr, cw, rt, dur, ttft, err, tags, ts, t0 in items:
        pid, provider_type, pricing_provider = known[name]
        if ts is None and t0 >= 0:
            # what datetime.fromtimestamp(t0, UTC) gives, to the microsecond (its own half-even rounding)
            whole = int(t0)
            micro = round((t0 - whole) * 1e6)
            if micro >= 1_000_000:
                whole, micro = whole + 1, micro - 1_000_000
            second = seconds.get(whole)
            if second is None:
                second = seconds[whole] = _from_ts(whole, _UTC).isoformat(" ")[:19]
            at = f"{second}.{micro:06d}"
        else:
            at = (_from_ts(t0, _UTC) if ts is None else ts.astimezone(_UTC)).isoformat(" ", "microseconds")[:26]
        if provider_type == "local":
            cost, source = _ZERO, _SOURCE_LOCAL
        else:
            override = (overrides.get((name, model)) or overrides.get(("*", model))) if overrides else None
            if override is not None:
                cost, source = override.cost(TokenUsage(pt, ct, cr, cw, rt)), _SOURCE_OVERRIDE
            else:
                cost = catalog(pricing_provider, model, at, pt, ct, cr, cw, rt)
                source = _SOURCE_UNPRICED if cost is None else _SOURCE_GENAI
        ref = catalog(ref_provider, ref_model, at, pt, ct, cr, cw, rt)
        if dur is not None:
            dur = dur * 1000.0
        if ttft is not None:
            ttft = ttft * 1000.0
        if err is not None:
            err = clean_error(err, max_chars)
        key = (at[:10], pid, model)
        group = groups.get(key)
        if group is None:
            group = groups[key] = ([], [])
        measure_input = (status, pt, ct, cr, cw, rt, cost, ref, dur, ttft)
        group[0].append(measure_input)
        group[1].append(at)
        if tags:
            tags_items = tuple(tags.items())
            tags = tags_text.get(tags_items)
            if tags is None:
                tags = tags_text[tags_items] = _tags_json(dict(tags_items))
            tag_key = (*key, tags)
            tag_group = tag_groups.get(tag_key)
            if tag_group is None:
                tag_groups[tag_key] = [measure_input]
            else:
                tag_group.append(measure_input)
        else:
            tags = None
        if sqlite:  # SQLAlchemy's SQLite types store money as REAL
            values.append(
                (
                    at,
                    pid,
                    model,
                    status,
                    endpoint,
                    pt,
                    ct,
                    cr,
                    cw,
                    rt,
                    dur,
                    ttft,
                    None if cost is None else float(cost),
                    None if ref is None else float(ref),
                    source,
                    err,
                    tags,
                )
            )
        else:
            values.append(
                (at, pid, model, status, endpoint, pt, ct, cr, cw, rt, dur, ttft, cost, ref, source, err, tags)
            )
    return values, groups, tag_groups


def _measures(inputs: list[tuple]) -> tuple:
    """The rollup measures (``db.DAILY_MEASURES`` order) of a group of calls, as ``rollup.aggregate``
    sums them (floats added in call order, so the sums are the same to the last bit)."""
    status, pt, ct, cr, cw, rt, cost, ref, dur, ttft = zip(*inputs, strict=True)
    n = len(status)
    ok = status.count("success")
    unpriced = sum(map(is_, cost, repeat(None)))  # not cost.count(None): Decimal == None is slow
    ref_sum = sum(filter(None, ref), _ZERO)
    if unpriced:
        priced_ref = sum((r for c, r in zip(cost, ref, strict=True) if c is not None and r is not None), _ZERO)
    else:
        priced_ref = ref_sum
    dur_count = n - dur.count(None)
    ttft_count = n - ttft.count(None)
    return (
        n,
        ok,
        n - ok,
        sum(pt),
        sum(ct),
        sum(cr),
        sum(cw),
        sum(rt),
        sum(filter(None, cost), _ZERO),
        ref_sum,
        priced_ref,
        unpriced,
        dur_count,
        reduce(add, filter(None, dur), 0.0) if dur_count else 0.0,
        ttft_count,
        reduce(add, filter(None, ttft), 0.0) if ttft_count else 0.0,
    )


def _aggregate(groups: dict, tag_groups: dict) -> tuple[rollup.Aggregates, dict[int, bool]]:
    """The rollup aggregates of the grouped calls, and per provider whether every call succeeded."""
    agg = rollup.Aggregates()
    all_ok: dict[int, bool] = {}
    days: dict[str, date] = {}
    hist, bucket = agg.hist, latency.bucket
    for (day_text, pid, model), (inputs, _) in groups.items():
        day = days.get(day_text) or days.setdefault(day_text, date.fromisoformat(day_text))
        measures = agg.daily[(day, pid, model)] = _measures(inputs)
        all_ok[pid] = all_ok.get(pid, True) and measures[1] == measures[0]
        durations = [i[8] for i in inputs if i[8] is not None]
        for b, count in Counter(map(bucket, durations)).items():
            hist[(day, pid, model, "duration", b)] += count
        ttfts = [i[9] for i in inputs if i[9] is not None]
        for b, count in Counter(map(bucket, ttfts)).items():
            hist[(day, pid, model, "ttft", b)] += count
    for (day_text, pid, model, tags), inputs in tag_groups.items():
        measures = _measures(inputs)
        day = days[day_text]
        for key, value in json.loads(tags).items():
            _plus(agg.tag_daily, (day, key, value, pid, model), measures)
    return agg, all_ok


def _upsert_sql(table, keys: tuple[str, ...], measures: tuple[str, ...]) -> str:
    columns = (*keys, *measures)
    updates = ", ".join(f"{m} = {m} + excluded.{m}" for m in measures)
    return (
        f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}"
    )


_MONEY = tuple(i for i, name in enumerate(db.DAILY_MEASURES) if type(db.costs_daily.c[name].type) is Numeric)
_DAILY_UPSERT = _upsert_sql(db.costs_daily, ("day", "provider_id", "model"), db.DAILY_MEASURES)
_TAG_UPSERT = _upsert_sql(
    db.tag_costs_daily, ("day", "tag_key", "tag_value", "provider_id", "model"), db.DAILY_MEASURES
)
_HIST_UPSERT = _upsert_sql(db.latency_daily, ("day", "provider_id", "model", "kind", "bucket"), ("count",))


def _sqlite_measures(measures: tuple) -> list:
    values = list(measures)
    for i in _MONEY:  # as SQLAlchemy's Numeric binds them on SQLite
        values[i] = float(values[i])
    return values


def _add_rollups_sqlite(conn, agg: rollup.Aggregates) -> None:
    """``rollup.add`` for SQLite, straight to the driver (the same rows, days as ISO text, money as REAL)."""
    cursor = conn.connection.driver_connection.cursor()
    try:
        cursor.executemany(
            _DAILY_UPSERT, [(day.isoformat(), *rest, *_sqlite_measures(m)) for (day, *rest), m in agg.daily.items()]
        )
        if agg.tag_daily:
            cursor.executemany(
                _TAG_UPSERT,
                [(day.isoformat(), *rest, *_sqlite_measures(m)) for (day, *rest), m in agg.tag_daily.items()],
            )
        cursor.executemany(_HIST_UPSERT, [(day.isoformat(), *rest, n) for (day, *rest), n in agg.hist.items()])
    finally:
        cursor.close()


def _plus(acc: dict, key, values: tuple) -> None:
    current = acc.get(key)
    acc[key] = values if current is None else tuple(map(add, current, values))


def _apply_health(conn, groups: dict, all_ok: dict[int, bool], values: list[tuple], now: datetime) -> None:
    """Feed the calls to the circuit breakers. When every call of a provider succeeded and its circuit
    is closed with no failure counted, only its last success time moves (``health.apply_outcomes``'
    own fast path); otherwise its calls go through ``health.apply_outcomes`` in their order."""
    for pid, ok in sorted(all_ok.items()):  # in id order: concurrent PostgreSQL writers lock rows alike
        if ok:
            circuit = health.load(conn, pid)
            if circuit.state == health.CLOSED and circuit.failure_count == 0:
                last_ok = datetime.fromisoformat(max(max(g[1]) for key, g in groups.items() if key[1] == pid))
                if circuit.last_success_at is None or last_ok > circuit.last_success_at:
                    health.save(conn, pid, replace(circuit, last_success_at=last_ok), [], now)
                continue
        outcomes = [(datetime.fromisoformat(v[0]), v[3]) for v in values if v[1] == pid]
        health.apply_outcomes(conn, {pid: outcomes}, now)


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
        self.providers = _ProviderCache()
        self.overrides: dict = {}
        self.pricer = Pricer()
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
                with self.write_lock:
                    self._write(batch)
                self._finish(len(batch))
                return
            except Exception as exc:  # recording never breaks the caller
                self._note_error(exc)
                if is_storage_fault(exc):
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

    def _write(self, batch: list[tuple]) -> None:
        engine = db.get_engine(self.url)
        write_batch(engine, batch, self.providers, self.overrides, self.pricer)
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
                        at=datetime.now(_UTC).replace(tzinfo=None),
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
            log.warning("llm-metrics could not write to %s (will retry): %s", db_label(self.url), self.last_error)

    def pending(self) -> int:
        return self.enqueued - self.finished

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
                error_max_chars=cfg.error_max_chars,
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
        writer.retry.set()


EXIT_FLUSH_TIMEOUT = 10.0  # seconds a process leaving waits for the database, at most


def _at_exit(_obj=None) -> None:
    writer = _writer
    if writer is not None and writer.pending() and not writer.flush(timeout=EXIT_FLUSH_TIMEOUT):
        log.error("llm-metrics lost %d record(s) at exit: the database stayed unavailable", writer.pending())


# -- fork and multiprocessing ----------------------------------------------------------------
_fork_held: Writer | None = None


def _before_fork() -> None:
    # No batch in flight while the process forks: the child's copy of SQLite holds no lock and no
    # half-done transaction of the parent's (bounded wait: a write stuck on a lock does not block fork).
    global _fork_held
    writer = _writer
    if writer is not None and writer.write_lock.acquire(timeout=5.0):
        _fork_held = writer


def _after_fork_in_parent() -> None:
    global _fork_held
    held, _fork_held = _fork_held, None
    if held is not None:
        held.write_lock.release()


def _after_fork_in_child() -> None:
    # The parent's queue and thread are the parent's (it writes its pending rows, once): the child
    # starts with an empty queue and makes its own writer on its first record.
    global _writer, _writer_lock, _fork_held
    _writer = None
    _writer_lock = threading.Lock()
    _fork_held = None


def _in_multiprocessing_child(_obj=None) -> None:
    """multiprocessing children leave through os._exit, where atexit does not run: flush from
    multiprocessing's own exit finalizers instead, and on SIGTERM (``Pool.terminate()``, which
    ``with Pool() as pool:`` calls on leaving) flush before dying as SIGTERM would have."""
    import multiprocessing.util as mp_util

    mp_util.Finalize(None, _at_exit, exitpriority=100)
    if threading.current_thread() is not threading.main_thread():
        return
    try:
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _flush_then_die)
    except (ValueError, OSError, AttributeError):  # no signals here
        pass


def _flush_then_die(signum, _frame) -> None:
    signal.signal(signum, signal.SIG_DFL)
    try:
        writer = _writer
        if writer is not None and writer.pending():
            writer.flush(timeout=EXIT_FLUSH_TIMEOUT)
    finally:
        os.kill(os.getpid(), signum)


def _register_process_hooks() -> None:
    import multiprocessing
    import multiprocessing.util as mp_util

    atexit.register(_at_exit)
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child)
    mp_util.register_after_fork(_in_multiprocessing_child, _in_multiprocessing_child)
    if multiprocessing.parent_process() is not None:  # imported inside a spawn/forkserver child
        _in_multiprocessing_child()


_register_process_hooks()
