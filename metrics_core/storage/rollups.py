"""The daily rollups, kept in step with ``llm_requests``, and the commands that recompute them.

``aggregate`` turns raw rows into per-(day, provider, model), per-tag and latency-histogram sums;
``add`` adds them to the rollup tables in the caller's transaction (insert, or add to the row that is
there; ``upsert_sql`` is the same statement as driver SQL, for the writer's SQLite fast path).
``rebuild`` recomputes the rollups of a range of days from raw rows (``recording.reprice`` prices
them again first).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from operator import add as add_

from sqlalchemy import and_, delete, select

from ..money import ZERO
from . import latency_buckets, schema


@dataclass
class Aggregates:
    daily: dict = field(default_factory=dict)
    tag_daily: dict = field(default_factory=dict)
    hist: dict = field(default_factory=lambda: defaultdict(int))


def plus(acc: dict, key, values: tuple) -> None:
    """Add ``values`` element-wise to ``acc[key]`` (or set it)."""
    current = acc.get(key)
    acc[key] = values if current is None else tuple(map(add_, current, values))


def aggregate(
    rows: Iterable[dict], tags: Iterable[dict | None] | None = None, into: Aggregates | None = None
) -> Aggregates:
    """Sum raw request rows into rollup measures (``schema.DAILY_MEASURES`` order).

    ``tags`` gives each row's tags as a dict (the writer has them at hand); without it the rows'
    JSON ``tags`` column is read.
    """
    agg = into or Aggregates()
    tag_iter = iter(tags) if tags is not None else None
    by_tags: dict = {}  # (day, provider, model, tags json) -> measures; expanded per tag below
    daily, hist, bucket = agg.daily, agg.hist, latency_buckets.bucket
    for row in rows:
        if tag_iter is not None:
            row_tags = next(tag_iter)
            tags_key = json.dumps(row_tags, sort_keys=True) if row_tags else None
        else:
            tags_key = row["tags"] or None
        cost = row["cost_usd"]
        ref = row["reference_cost_usd"]
        ref = ZERO if ref is None else ref
        dur = row["duration_ms"]
        ttft = row["ttft_ms"]
        ok = row["status"] == "success"
        priced = cost is not None
        measures = (
            1,
            int(ok),
            int(not ok),
            row["prompt_tokens"],
            row["completion_tokens"],
            row["cache_read_tokens"],
            row["cache_write_tokens"],
            row["reasoning_tokens"],
            cost if priced else ZERO,
            ref,
            ref if priced else ZERO,
            int(not priced),
            int(dur is not None),
            dur or 0.0,
            int(ttft is not None),
            ttft or 0.0,
        )
        day = row["timestamp"].date()
        pid, model = row["provider_id"], row["model"]
        plus(daily, (day, pid, model), measures)
        if tags_key:
            plus(by_tags, (day, pid, model, tags_key), measures)
        if dur is not None:
            hist[(day, pid, model, "duration", bucket(dur))] += 1
        if ttft is not None:
            hist[(day, pid, model, "ttft", bucket(ttft))] += 1
    for (day, pid, model, tags_key), measures in by_tags.items():
        for key, value in json.loads(tags_key).items():
            plus(agg.tag_daily, (day, key, value, pid, model), measures)
    return agg


DAILY_KEYS = ("day", "provider_id", "model")
TAG_KEYS = ("day", "tag_key", "tag_value", "provider_id", "model")
HIST_KEYS = ("day", "provider_id", "model", "kind", "bucket")


def add(conn, agg: Aggregates) -> None:
    """Add aggregates to the rollup tables (insert, or add to the existing row).

    On PostgreSQL the rows go in key order, so concurrent writers lock rollup rows in the same
    order and cannot deadlock each other (SQLite has one writer at a time).
    """
    measures = schema.DAILY_MEASURES
    order = sorted if conn.dialect.name == "postgresql" else _as_is
    if agg.daily:
        _upsert(
            conn,
            schema.costs_daily,
            DAILY_KEYS,
            measures,
            [
                dict(zip(DAILY_KEYS, k, strict=True)) | dict(zip(measures, v, strict=True))
                for k, v in order(agg.daily.items())
            ],
        )
    if agg.tag_daily:
        _upsert(
            conn,
            schema.tag_costs_daily,
            TAG_KEYS,
            measures,
            [
                dict(zip(TAG_KEYS, k, strict=True)) | dict(zip(measures, v, strict=True))
                for k, v in order(agg.tag_daily.items())
            ],
        )
    if agg.hist:
        _upsert(
            conn,
            schema.latency_daily,
            HIST_KEYS,
            ("count",),
            [dict(zip(HIST_KEYS, k, strict=True), count=v) for k, v in order(agg.hist.items())],
        )


def upsert_sql(table, keys: tuple[str, ...], measures: tuple[str, ...]) -> str:
    """The driver-level (``?`` placeholders) statement that ``add`` runs for ``table``."""
    columns = (*keys, *measures)
    updates = ", ".join(f"{m} = {m} + excluded.{m}" for m in measures)
    return (
        f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}"
    )


def _as_is(items):
    return items


_UPSERTS: dict = {}  # (dialect, table) -> statement: building one costs more than a small batch's write


def _upsert(conn, table, keys, measures, rows) -> None:
    stmt = _UPSERTS.get((conn.dialect.name, table.name))
    if stmt is None:
        if conn.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        stmt = insert(table)
        stmt = stmt.on_conflict_do_update(
            index_elements=list(keys), set_={m: table.c[m] + stmt.excluded[m] for m in measures}
        )
        _UPSERTS[(conn.dialect.name, table.name)] = stmt
    conn.execute(stmt, rows)


def day_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    return datetime(start.year, start.month, start.day), datetime(end.year, end.month, end.day) + timedelta(days=1)


def days_with_data(engine, start: date | None, end: date | None) -> tuple[date, date] | None:
    from sqlalchemy import func

    if start is not None and end is not None:
        return start, end
    with engine.connect() as conn:
        lo, hi = conn.execute(
            select(func.min(schema.requests.c.timestamp), func.max(schema.requests.c.timestamp))
        ).one()
    if lo is None:
        return None
    return start or lo.date(), end or hi.date()


ROW_COLUMNS = (
    "id",
    "timestamp",
    "provider_id",
    "model",
    "status",
    "prompt_tokens",
    "completion_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "duration_ms",
    "ttft_ms",
    "cost_usd",
    "reference_cost_usd",
    "tags",
)


def rebuild(
    engine, start: date | None = None, end: date | None = None, progress: Callable[[int], None] | None = None
) -> int:
    """Recompute the rollups of days ``start``..``end`` (default: every day with data) from raw rows.

    Returns the number of raw rows read. Runs one day per transaction.
    """
    span = days_with_data(engine, start, end)
    if span is None:
        return 0
    total = 0
    day = span[0]
    r = schema.requests
    while day <= span[1]:
        lo, hi = day_bounds(day, day)
        with engine.connect() as conn, conn.execution_options(immediate=True).begin():
            for table in (schema.costs_daily, schema.tag_costs_daily, schema.latency_daily):
                conn.execute(delete(table).where(table.c.day == day))
            result = conn.execute(
                select(*[r.c[c] for c in ROW_COLUMNS]).where(and_(r.c.timestamp >= lo, r.c.timestamp < hi))
            )
            agg = aggregate(dict(row._mapping) for row in result)
            add(conn, agg)
            n = sum(v[0] for v in agg.daily.values())
        total += n
        if progress:
            progress(n)
        day += timedelta(days=1)
    return total
