"""The request log: raw calls, newest first, filtered and paged in SQL."""

from __future__ import annotations

import json
from datetime import datetime

import pandas as pd
from sqlalchemy import and_, func, literal, select

from .. import storage
from ..recording import STATUSES
from .common import as_naive, read_engine


def _log_where(*, start=None, end=None, providers=None, models=None, statuses=None, tag=None, error_contains=None):
    r, p = storage.requests, storage.providers
    conds = []
    if start is not None:
        conds.append(r.c.timestamp >= as_naive(start))
    if end is not None:
        conds.append(r.c.timestamp < as_naive(end))
    if providers:
        conds.append(r.c.provider_id.in_(select(p.c.id).where(p.c.name.in_(providers))))
    if models:
        conds.append(r.c.model.in_(models))
    if statuses:
        conds.append(r.c.status.in_(statuses))
    if tag:
        key, value = tag
        needle = json.dumps({key: value}, ensure_ascii=False)[1:-1]  # '"key": "value"'
        conds.append(r.c.tags.contains(needle, autoescape=True))
    if error_contains:
        conds.append(func.lower(r.c.error_message).contains(error_contains.lower(), autoescape=True))
    return and_(literal(True), *conds) if conds else literal(True)


#: the request log's columns: the raw row with the provider's name in place of its id
LOG_COLUMNS = [
    "id",
    "timestamp",
    "provider",
    *(c.name for c in storage.requests.columns if c.name not in ("id", "timestamp", "provider_id")),
]


def request_log(
    *,
    limit: int = 100,
    offset: int = 0,
    start=None,
    end=None,
    providers=None,
    models=None,
    statuses=None,
    tag: tuple[str, str] | None = None,
    error_contains: str | None = None,
    engine=None,
) -> pd.DataFrame:
    """The latest calls, newest first, filtered and paged in SQL. ``tags`` is a dict per row."""
    engine = read_engine(engine)
    r, p = storage.requests, storage.providers
    where = _log_where(
        start=start,
        end=end,
        providers=providers,
        models=models,
        statuses=statuses,
        tag=tag,
        error_contains=error_contains,
    )
    cols = [c for c in r.c if c.name != "provider_id"]
    with engine.connect() as conn:
        rows = conn.execute(
            select(*cols, p.c.name.label("provider"))
            .select_from(r.join(p, p.c.id == r.c.provider_id))
            .where(where)
            .order_by(r.c.timestamp.desc(), r.c.id.desc())
            .limit(limit)
            .offset(offset)
        ).all()
    frame = (
        pd.DataFrame([row._mapping for row in rows], columns=LOG_COLUMNS) if rows else pd.DataFrame(columns=LOG_COLUMNS)
    )
    frame["tags"] = pd.Series(
        [json.loads(s) if isinstance(s, str) and s else {} for s in frame["tags"]], index=frame.index, dtype=object
    )
    for col in ("cost_usd", "reference_cost_usd", "duration_ms", "ttft_ms"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)  # NaN = unpriced / unknown
    return frame


def request_count(
    *, start=None, end=None, providers=None, models=None, statuses=None, tag=None, error_contains=None, engine=None
) -> int:
    """How many calls match the request log's filters (for paging).

    Counted from the daily rollups when the filters allow it (whole UTC days, providers, models, a
    tag, and no status filter, ``success`` only, or every failed status): flat however many rows
    there are. An error-text filter, a partial day or another mix of statuses counts the raw rows.
    """
    engine = read_engine(engine)
    measure = _rollup_measure(start, end, statuses, error_contains)
    with engine.connect() as conn:
        if measure is not None:
            return _rollup_count(conn, measure, start, end, providers, models, tag)
        where = _log_where(
            start=start,
            end=end,
            providers=providers,
            models=models,
            statuses=statuses,
            tag=tag,
            error_contains=error_contains,
        )
        return int(conn.execute(select(func.count()).select_from(storage.requests).where(where)).scalar_one())


def _midnight(value) -> bool:
    return value is None or as_naive(value).time() == datetime.min.time()


def _rollup_measure(start, end, statuses, error_contains) -> str | None:
    """The rollup measure that counts these filters exactly, or None when only raw rows can."""
    if error_contains or not (_midnight(start) and _midnight(end)):
        return None
    chosen = set(statuses or STATUSES)
    if chosen == set(STATUSES):
        return "requests"
    if chosen == {"success"}:
        return "successful_requests"
    if chosen == set(STATUSES) - {"success"}:
        return "failed_requests"
    return None


def _rollup_count(conn, measure: str, start, end, providers, models, tag) -> int:
    t = storage.tag_costs_daily if tag else storage.costs_daily
    conds = []
    if start is not None:
        conds.append(t.c.day >= as_naive(start).date())
    if end is not None:
        conds.append(t.c.day < as_naive(end).date())
    if providers:
        p = storage.providers
        conds.append(t.c.provider_id.in_(select(p.c.id).where(p.c.name.in_(providers))))
    if models:
        conds.append(t.c.model.in_(models))
    if tag:
        conds += [t.c.tag_key == tag[0], t.c.tag_value == tag[1]]
    query = select(func.coalesce(func.sum(t.c[measure]), 0)).where(and_(literal(True), *conds))
    return int(conn.execute(query).scalar_one())
