"""The daily rollups, kept in step with ``llm_requests``, and the commands that recompute them.

``aggregate`` turns raw rows into per-(day, provider, model), per-tag and latency-histogram sums;
``add`` adds them to the rollup tables in the caller's transaction (insert, or add to the row that is
there). ``rebuild`` recomputes the rollups of a range of days from raw rows; ``reprice`` first prices
the raw rows of that range again (after genai-prices data or a price override changed).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from operator import add as add_

from sqlalchemy import and_, delete, select, update

from . import db, latency

ZERO = Decimal(0)


@dataclass
class Aggregates:
    daily: dict = field(default_factory=dict)
    tag_daily: dict = field(default_factory=dict)
    hist: dict = field(default_factory=lambda: defaultdict(int))


def _plus(acc: dict, key, values: tuple) -> None:
    current = acc.get(key)
    acc[key] = values if current is None else tuple(map(add_, current, values))


def aggregate(
    rows: Iterable[dict], tags: Iterable[dict | None] | None = None, into: Aggregates | None = None
) -> Aggregates:
    """Sum raw request rows into rollup measures (``db.DAILY_MEASURES`` order).

    ``tags`` gives each row's tags as a dict (the writer has them at hand); without it the rows'
    JSON ``tags`` column is read.
    """
    agg = into or Aggregates()
    tag_iter = iter(tags) if tags is not None else None
    by_tags: dict = {}  # (day, provider, model, tags json) -> measures; expanded per tag below
    daily, hist, bucket = agg.daily, agg.hist, latency.bucket
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
        _plus(daily, (day, pid, model), measures)
        if tags_key:
            _plus(by_tags, (day, pid, model, tags_key), measures)
        if dur is not None:
            hist[(day, pid, model, "duration", bucket(dur))] += 1
        if ttft is not None:
            hist[(day, pid, model, "ttft", bucket(ttft))] += 1
    for (day, pid, model, tags_key), measures in by_tags.items():
        for key, value in json.loads(tags_key).items():
            _plus(agg.tag_daily, (day, key, value, pid, model), measures)
    return agg


_DAILY_KEYS = ("day", "provider_id", "model")
_TAG_KEYS = ("day", "tag_key", "tag_value", "provider_id", "model")
_HIST_KEYS = ("day", "provider_id", "model", "kind", "bucket")


def add(conn, agg: Aggregates) -> None:
    """Add aggregates to the rollup tables (insert, or add to the existing row).

    On PostgreSQL the rows go in key order, so concurrent writers lock rollup rows in the same
    order and cannot deadlock each other (SQLite has one writer at a time).
    """
    measures = db.DAILY_MEASURES
    order = sorted if conn.dialect.name == "postgresql" else _as_is
    if agg.daily:
        _upsert(
            conn,
            db.costs_daily,
            _DAILY_KEYS,
            measures,
            [
                dict(zip(_DAILY_KEYS, k, strict=True)) | dict(zip(measures, v, strict=True))
                for k, v in order(agg.daily.items())
            ],
        )
    if agg.tag_daily:
        _upsert(
            conn,
            db.tag_costs_daily,
            _TAG_KEYS,
            measures,
            [
                dict(zip(_TAG_KEYS, k, strict=True)) | dict(zip(measures, v, strict=True))
                for k, v in order(agg.tag_daily.items())
            ],
        )
    if agg.hist:
        _upsert(
            conn,
            db.latency_daily,
            _HIST_KEYS,
            ("count",),
            [dict(zip(_HIST_KEYS, k, strict=True), count=v) for k, v in order(agg.hist.items())],
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


def _day_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    return datetime(start.year, start.month, start.day), datetime(end.year, end.month, end.day) + timedelta(days=1)


def _days(engine, start: date | None, end: date | None) -> tuple[date, date] | None:
    from sqlalchemy import func

    if start is not None and end is not None:
        return start, end
    with engine.connect() as conn:
        lo, hi = conn.execute(select(func.min(db.requests.c.timestamp), func.max(db.requests.c.timestamp))).one()
    if lo is None:
        return None
    return start or lo.date(), end or hi.date()


_ROW_COLS = (
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
    span = _days(engine, start, end)
    if span is None:
        return 0
    total = 0
    day = span[0]
    r = db.requests
    while day <= span[1]:
        lo, hi = _day_bounds(day, day)
        with engine.connect() as conn, conn.execution_options(immediate=True).begin():
            for table in (db.costs_daily, db.tag_costs_daily, db.latency_daily):
                conn.execute(delete(table).where(table.c.day == day))
            result = conn.execute(
                select(*[r.c[c] for c in _ROW_COLS]).where(and_(r.c.timestamp >= lo, r.c.timestamp < hi))
            )
            agg = aggregate(dict(row._mapping) for row in result)
            add(conn, agg)
            n = sum(v[0] for v in agg.daily.values())
        total += n
        if progress:
            progress(n)
        day += timedelta(days=1)
    return total


def reprice(
    engine, start: date | None = None, end: date | None = None, progress: Callable[[int], None] | None = None
) -> dict:
    """Price the raw rows of days ``start``..``end`` again, then rebuild those days' rollups.

    Returns ``{"rows": n, "changed": n, "cost_before": Decimal, "cost_after": Decimal}``.
    """
    from .config import settings
    from .pricing import TokenUsage, price_call, reference_cost
    from .recorder import load_overrides

    span = _days(engine, start, end)
    summary = {"rows": 0, "changed": 0, "cost_before": ZERO, "cost_after": ZERO}
    if span is None:
        return summary
    cfg = settings()
    r, p = db.requests, db.providers
    with engine.connect() as conn:
        overrides = load_overrides(conn)
        providers = {
            row.id: row for row in conn.execute(select(p.c.id, p.c.name, p.c.provider_type, p.c.pricing_provider))
        }
    day = span[0]
    while day <= span[1]:
        lo, hi = _day_bounds(day, day)
        with engine.connect() as conn, conn.execution_options(immediate=True).begin():
            rows = conn.execute(select(r).where(and_(r.c.timestamp >= lo, r.c.timestamp < hi))).all()
            changes = []
            for row in rows:
                prov = providers[row.provider_id]
                usage = TokenUsage(
                    row.prompt_tokens,
                    row.completion_tokens,
                    row.cache_read_tokens,
                    row.cache_write_tokens,
                    row.reasoning_tokens,
                )
                override = overrides.get((prov.name, row.model)) or overrides.get(("*", row.model))
                price = price_call(
                    provider_type=prov.provider_type,
                    pricing_provider=prov.pricing_provider,
                    model=row.model,
                    usage=usage,
                    timestamp=row.timestamp,
                    override=override,
                )
                ref = reference_cost(usage, row.timestamp, provider=cfg.reference_provider, model=cfg.reference_model)
                summary["cost_before"] += row.cost_usd or ZERO
                summary["cost_after"] += price.cost_usd or ZERO
                if (_q(price.cost_usd), _q(ref), price.source) != (
                    _q(row.cost_usd),
                    _q(row.reference_cost_usd),
                    row.price_source,
                ):
                    changes.append({"rid": row.id, "c": price.cost_usd, "rc": ref, "ps": price.source})
            if changes:
                from sqlalchemy import bindparam

                conn.execute(
                    update(r)
                    .where(r.c.id == bindparam("rid"))
                    .values(cost_usd=bindparam("c"), reference_cost_usd=bindparam("rc"), price_source=bindparam("ps")),
                    changes,
                )
        summary["rows"] += len(rows)
        summary["changed"] += len(changes)
        if progress:
            progress(len(rows))
        day += timedelta(days=1)
    rebuild(engine, span[0], span[1])
    return summary


def _q(value):
    return None if value is None else Decimal(value).quantize(Decimal("1e-10"))


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
