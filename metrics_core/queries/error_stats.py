"""Error figures: the most frequent errors, failed calls per class, recent error rates.

They read raw rows (failed calls of one window, calls of the last minutes: both small and served
by the timestamp index). Availability is in ``availability``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import case, func, select

from .. import clock, storage
from .common import Window, read_engine

ERROR_STATUSES = ("failed", "timeout", "rate_limited")
ERROR_CHARS = 120  # errors are grouped by their first characters


def _bounds(window: Window) -> tuple[datetime, datetime]:
    start = datetime(window.start.year, window.start.month, window.start.day)
    end = datetime(window.end.year, window.end.month, window.end.day) + timedelta(days=1)
    return start, end


def top_errors(*, window: Window, limit: int = 10, engine=None) -> pd.DataFrame:
    """The most frequent errors of the window: ``provider, status, error, count``, most first.

    Errors are grouped by provider, status and the first ``ERROR_CHARS`` characters of the message.
    """
    engine = read_engine(engine)
    start, end = _bounds(window)
    r, p = storage.requests, storage.providers
    error = func.coalesce(func.substr(r.c.error_message, 1, ERROR_CHARS), "").label("error")
    with engine.connect() as conn:
        rows = conn.execute(
            select(p.c.name.label("provider"), r.c.status, error, func.count().label("count"))
            .select_from(r.join(p, p.c.id == r.c.provider_id))
            .where(r.c.timestamp >= start, r.c.timestamp < end, r.c.status.in_(ERROR_STATUSES))
            .group_by(p.c.name, r.c.status, error)
            .order_by(func.count().desc(), p.c.name, r.c.status, error)
            .limit(limit)
        ).all()
    return pd.DataFrame([tuple(row) for row in rows], columns=["provider", "status", "error", "count"])


def error_classes(*, window: Window, engine=None) -> pd.DataFrame:
    """Failed calls per provider and status over the window (``provider, status, count``), from raw rows."""
    engine = read_engine(engine)
    start, end = _bounds(window)
    r, p = storage.requests, storage.providers
    with engine.connect() as conn:
        rows = conn.execute(
            select(p.c.name.label("provider"), r.c.status, func.count().label("count"))
            .select_from(r.join(p, p.c.id == r.c.provider_id))
            .where(r.c.timestamp >= start, r.c.timestamp < end, r.c.status.in_(ERROR_STATUSES))
            .group_by(p.c.name, r.c.status)
            .order_by(p.c.name, r.c.status)
        ).all()
    return pd.DataFrame([tuple(row) for row in rows], columns=["provider", "status", "count"])


def recent_error_rates(minutes: int, *, now: datetime | None = None, engine=None) -> list[dict]:
    """Per provider with calls in the last ``minutes`` minutes: ``provider, calls, errors, error_rate``
    (percent; ``cancelled`` counts as neither success nor error)."""
    engine = read_engine(engine)
    since = clock.naive_utc(now) - timedelta(minutes=minutes)
    r, p = storage.requests, storage.providers
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                p.c.name.label("provider"),
                func.count().label("calls"),
                func.coalesce(func.sum(case((r.c.status.in_(ERROR_STATUSES), 1), else_=0)), 0).label("errors"),
            )
            .select_from(r.join(p, p.c.id == r.c.provider_id))
            .where(r.c.timestamp >= since, r.c.status != "cancelled")
            .group_by(p.c.name)
            .order_by(p.c.name)
        ).all()
    return [
        {
            "provider": row.provider,
            "calls": int(row.calls),
            "errors": int(row.errors),
            "error_rate": round(int(row.errors) / int(row.calls) * 100, 2),
        }
        for row in rows
        if row.calls
    ]
