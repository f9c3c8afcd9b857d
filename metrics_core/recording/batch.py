"""One batch of queued records -> one transaction: raw rows, rollups, circuit breakers.

The per-row work is one pass (``prepare``) that prices each call, builds its ``llm_requests`` values
and groups the calls by (day, provider, model) and by tags; the rollup measures are then summed per
group column by column (``aggregate``; ``storage.rollups.aggregate`` gives the same figures from raw
rows). SQLite rows go straight to the driver's ``executemany``; PostgreSQL rows through ``COPY``.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, date, datetime
from functools import reduce
from itertools import repeat
from operator import add, is_

from sqlalchemy import Numeric

from .. import storage
from ..clock import utc_now
from ..config import settings
from ..money import ZERO
from ..pricing import SOURCE_LOCAL, SOURCE_UNPRICED, Pricer, TokenUsage, genai_source
from ..storage import latency_buckets, rollups
from . import circuit_breaker, price_data
from .redact import clean_error, redact_cached
from .registry import OVERRIDES_TTL, ProviderCache, load_overrides

#: llm_requests columns, in the order write_batch builds each row's values
COLUMNS = (
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
    "service_tier",
    "usage_details",
    "usage_known",
)
#: the columns written for a batch in which no call has a service tier, usage details or unknown usage
#: (the others then take their defaults: NULL, NULL, true); binding fewer columns is ~15% cheaper
BASE_COLUMNS = COLUMNS[: COLUMNS.index("service_tier")]


def _copy_sql(columns) -> str:
    return "COPY llm_requests (" + ", ".join(f'"{c}"' for c in columns) + ") FROM STDIN"  # "timestamp" quoted


def _insert_sql(columns) -> str:
    return f"INSERT INTO llm_requests ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


PG_COPY, PG_COPY_BASE = _copy_sql(COLUMNS), _copy_sql(BASE_COLUMNS)
SQLITE_INSERT, SQLITE_INSERT_BASE = _insert_sql(COLUMNS), _insert_sql(BASE_COLUMNS)
_BASE = len(BASE_COLUMNS)


def base_only(values: list[tuple]) -> bool:
    """True when no row of ``values`` has a service tier, usage details or unknown usage."""
    n = _BASE
    return not any(v[n] is not None or v[n + 1] is not None or not v[n + 2] for v in values)


_UTC = UTC
_from_ts = datetime.fromtimestamp
_tags_json = json.JSONEncoder(sort_keys=True, ensure_ascii=False).encode  # json.dumps(tags, same options)


def write_batch(
    engine,
    items: list[tuple],
    providers: ProviderCache,
    overrides_state: dict,
    pricer: Pricer | None = None,
    on_begun=None,
) -> None:
    """Write queued items in one transaction: raw rows, rollups, circuit breakers.

    The per-row work is one pass that prices each call (``pricing.Pricer``), builds the row's values
    and groups the rows by (day, provider, model) and by tags; the rollup measures are then summed
    per group column by column (``rollup.aggregate`` gives the same figures from raw rows, and
    ``rebuild`` uses it). SQLite rows go straight to the driver's ``executemany``. ``on_begun`` is
    called once the transaction has begun (its lock taken).
    """
    cfg = settings()
    pricer = pricer or Pricer()
    now = utc_now()
    with engine.connect() as conn, conn.execution_options(immediate=True).begin():
        if on_begun is not None:  # the database let the transaction in (the writer times the wait)
            on_begun()
        if overrides_state.get("loaded_at", 0) < time.monotonic() - OVERRIDES_TTL:
            # price overrides and provider types (local/remote) changed elsewhere apply within the TTL
            overrides_state["map"] = load_overrides(conn)
            overrides_state["loaded_at"] = time.monotonic()
            price_data.activate(conn)  # price data stored by `llm-metrics prices update`
            providers.by_name.clear()
        pricer.refresh()
        known = providers.resolve(conn, {it[0] for it in items}, now)
        sqlite = conn.dialect.name == "sqlite"
        values, groups, tag_groups = prepare(items, known, overrides_state["map"], pricer, cfg, sqlite)
        agg, all_ok = aggregate(groups, tag_groups)
        base = base_only(values)
        if sqlite:
            cursor = conn.connection.driver_connection.cursor()
            try:
                if base:
                    cursor.executemany(SQLITE_INSERT_BASE, [v[:_BASE] for v in values])
                else:
                    cursor.executemany(SQLITE_INSERT, values)
            finally:
                cursor.close()
        elif conn.dialect.driver == "psycopg":
            # COPY: the whole batch in one round trip, several times faster than an executemany
            with (
                conn.connection.driver_connection.cursor() as cursor,
                cursor.copy(PG_COPY_BASE if base else PG_COPY) as copy,
            ):
                if base:
                    for row in values:
                        copy.write_row(row[:_BASE])
                else:
                    for row in values:
                        copy.write_row(row)
        else:
            conn.execute(
                storage.requests.insert(),
                [dict(zip(COLUMNS, (datetime.fromisoformat(v[0]), *v[1:]), strict=True)) for v in values],
            )
        if sqlite:
            _add_rollups_sqlite(conn, agg)
        else:
            rollups.add(conn, agg)
        apply_health(conn, groups, all_ok, values, now)
    providers.commit()


def prepare(items, known, overrides, pricer: Pricer, cfg, sqlite: bool):
    """Each item's llm_requests values, and its rollup inputs grouped by (day, provider, model [, tags])."""
    catalog = pricer.catalog
    source_genai = genai_source()
    details_text: dict[tuple, str] = {}  # usage_details items -> their JSON
    ref_provider, ref_model, max_chars = cfg.reference_provider, cfg.reference_model, cfg.error_max_chars
    values = []
    groups: dict[tuple, tuple[list, list]] = {}  # (day, provider id, model) -> (measure inputs, timestamps)
    tag_groups: dict[tuple, list] = {}  # (day, provider id, model, tags json) -> measure inputs
    tags_text: dict[tuple, str] = {}  # tags items -> their JSON
    seconds: dict[int, str] = {}  # whole epoch second -> "YYYY-MM-DD HH:MM:SS"
    for (
        name,
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
        err,
        tags,
        ts,
        t0,
        tier,
        details,
        usage_known,
    ) in items:
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
            cost, source = ZERO, SOURCE_LOCAL
        elif not usage_known:
            cost, source = None, SOURCE_UNPRICED
        else:
            override = (overrides.get((name.lower(), model)) or overrides.get(("*", model))) if overrides else None
            if override is not None:
                cost, source = override.cost(TokenUsage(pt, ct, cr, cw, rt)), override.source
            else:
                cost = catalog(pricing_provider, model, at, pt, ct, cr, cw, rt, tier, details)
                source = SOURCE_UNPRICED if cost is None else source_genai
        ref = catalog(ref_provider, ref_model, at, pt, ct, cr, cw, rt, None, details) if usage_known else None
        if details is not None:
            details_items = tuple(details.items())
            details = details_text.get(details_items)
            if details is None:
                details = details_text[details_items] = _tags_json(dict(details_items))
        if dur is not None:
            dur = dur * 1000.0
        if ttft is not None:
            ttft = ttft * 1000.0
        if err is not None:
            err = clean_error(err, max_chars)
        if endpoint is not None:
            endpoint = redact_cached(endpoint)  # "?key=..." is common
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
            if tags is None:  # values redacted (a secret in a tag would reach the rollups too)
                tags = tags_text[tags_items] = _tags_json({k: redact_cached(v) for k, v in tags_items})
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
                    tier,
                    details,
                    usage_known,
                )
            )
        else:
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
                    cost,
                    ref,
                    source,
                    err,
                    tags,
                    tier,
                    details,
                    usage_known,
                )
            )
    return values, groups, tag_groups


def _measures(inputs: list[tuple]) -> tuple:
    """The rollup measures (``storage.DAILY_MEASURES`` order) of a group of calls, as ``rollup.aggregate``
    sums them (floats added in call order, so the sums are the same to the last bit)."""
    status, pt, ct, cr, cw, rt, cost, ref, dur, ttft = zip(*inputs, strict=True)
    n = len(status)
    ok = status.count("success")
    unpriced = sum(map(is_, cost, repeat(None)))  # not cost.count(None): Decimal == None is slow
    ref_sum = sum(filter(None, ref), ZERO)
    if unpriced:
        priced_ref = sum((r for c, r in zip(cost, ref, strict=True) if c is not None and r is not None), ZERO)
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
        sum(filter(None, cost), ZERO),
        ref_sum,
        priced_ref,
        unpriced,
        dur_count,
        reduce(add, filter(None, dur), 0.0) if dur_count else 0.0,
        ttft_count,
        reduce(add, filter(None, ttft), 0.0) if ttft_count else 0.0,
    )


def aggregate(groups: dict, tag_groups: dict) -> tuple[rollups.Aggregates, dict[int, bool]]:
    """The rollup aggregates of the grouped calls, and per provider whether every call succeeded."""
    agg = rollups.Aggregates()
    all_ok: dict[int, bool] = {}
    days: dict[str, date] = {}
    hist, bucket = agg.hist, latency_buckets.bucket
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
            rollups.plus(agg.tag_daily, (day, key, value, pid, model), measures)
    return agg, all_ok


_MONEY = tuple(i for i, name in enumerate(storage.DAILY_MEASURES) if type(storage.costs_daily.c[name].type) is Numeric)
_DAILY_UPSERT = rollups.upsert_sql(storage.costs_daily, rollups.DAILY_KEYS, storage.DAILY_MEASURES)
_TAG_UPSERT = rollups.upsert_sql(storage.tag_costs_daily, rollups.TAG_KEYS, storage.DAILY_MEASURES)
_HIST_UPSERT = rollups.upsert_sql(storage.latency_daily, rollups.HIST_KEYS, ("count",))


def _sqlite_measures(measures: tuple) -> list:
    values = list(measures)
    for i in _MONEY:  # as SQLAlchemy's Numeric binds them on SQLite
        values[i] = float(values[i])
    return values


def _add_rollups_sqlite(conn, agg: rollups.Aggregates) -> None:
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


def apply_health(conn, groups: dict, all_ok: dict[int, bool], values: list[tuple], now: datetime) -> None:
    """Feed the calls to the circuit breakers. When every call of a provider succeeded and its circuit
    is closed with no failure counted, only its last success time moves (``circuit_breaker.apply_outcomes``'
    own fast path); otherwise its calls go through ``circuit_breaker.apply_outcomes`` in their order."""
    for pid, ok in sorted(all_ok.items()):  # in id order: concurrent PostgreSQL writers lock rows alike
        if ok:
            first = datetime.fromisoformat(min(min(g[1]) for key, g in groups.items() if key[1] == pid))
            circuit = circuit_breaker.load(conn, pid, at=min(first, now))
            if circuit.state == circuit_breaker.CLOSED and circuit.failure_count == 0:
                last_ok = datetime.fromisoformat(max(max(g[1]) for key, g in groups.items() if key[1] == pid))
                if circuit.last_success_at is None or last_ok > circuit.last_success_at:
                    circuit_breaker.save(conn, pid, replace(circuit, last_success_at=last_ok), [], now)
                continue
        outcomes = [(datetime.fromisoformat(v[0]), v[3]) for v in values if v[1] == pid]
        circuit_breaker.apply_outcomes(conn, {pid: outcomes}, now)
