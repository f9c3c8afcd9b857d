"""Provider reliability: availability from the circuit history, error classes, recent error rates.

Availability of a provider over a window = the share of the window its circuit was not ``open``
(from ``llm_circuit_events``; the state at the window's start is the last transition before it).
``top_errors`` and ``recent_error_rates`` read raw rows (failed calls of one month, calls of the
last minutes: both small and served by the timestamp index).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
from sqlalchemy import and_, case, func, select

from . import db
from .health import OPEN
from .queries import Window, _engine

ERROR_STATUSES = ("failed", "timeout", "rate_limited")
ERROR_CHARS = 120  # errors are grouped by their first characters


def _naive_now(now: datetime | None) -> datetime:
    now = now or datetime.now(UTC)
    return now.astimezone(UTC).replace(tzinfo=None) if now.tzinfo else now


def _bounds(window: Window) -> tuple[datetime, datetime]:
    start = datetime(window.start.year, window.start.month, window.start.day)
    end = datetime(window.end.year, window.end.month, window.end.day) + timedelta(days=1)
    return start, end


def availability(*, window: Window, now: datetime | None = None, engine=None) -> pd.DataFrame:
    """Per provider: ``availability_pct`` (share of the window not ``open``), ``openings`` (times
    the circuit opened), ``open_minutes``. The part of the window after ``now`` is left out."""
    engine = _engine(engine)
    start, end = _bounds(window)
    end = min(end, _naive_now(now))
    e, p = db.circuit_events, db.providers
    with engine.connect() as conn:
        names = dict(conn.execute(select(p.c.id, p.c.name).order_by(p.c.priority, p.c.id)).all())
        before = {
            r.provider_id: r.to_state
            for r in conn.execute(
                select(e.c.provider_id, e.c.to_state, e.c.at, e.c.id).where(e.c.at < start).order_by(e.c.at, e.c.id)
            )
        }
        events = conn.execute(
            select(e.c.provider_id, e.c.at, e.c.to_state)
            .where(and_(e.c.at >= start, e.c.at < end))
            .order_by(e.c.at, e.c.id)
        ).all()
    span = max((end - start).total_seconds(), 0.0)
    rows = []
    for pid, name in names.items():
        state, since, open_s, openings = before.get(pid, "closed"), start, 0.0, 0
        for ev in (ev for ev in events if ev.provider_id == pid):
            if state == OPEN:
                open_s += (ev.at - since).total_seconds()
            if ev.to_state == OPEN and state != OPEN:
                openings += 1
            state, since = ev.to_state, ev.at
        if state == OPEN and end > since:
            open_s += (end - since).total_seconds()
        rows.append(
            {
                "provider": name,
                "availability_pct": round((1 - open_s / span) * 100, 3) if span else 100.0,
                "openings": openings,
                "open_minutes": round(open_s / 60, 1),
            }
        )
    return pd.DataFrame(rows, columns=["provider", "availability_pct", "openings", "open_minutes"])


def top_errors(*, window: Window, limit: int = 10, engine=None) -> pd.DataFrame:
    """The most frequent errors of the window: ``provider, status, error, count``, most first.

    Errors are grouped by provider, status and the first ``ERROR_CHARS`` characters of the message.
    """
    engine = _engine(engine)
    start, end = _bounds(window)
    r, p = db.requests, db.providers
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
    engine = _engine(engine)
    start, end = _bounds(window)
    r, p = db.requests, db.providers
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
    engine = engine if engine is not None else db.get_engine()
    since = _naive_now(now) - timedelta(minutes=minutes)
    r, p = db.requests, db.providers
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


def daily_availability(*, window: Window, now: datetime | None = None, engine=None) -> pd.DataFrame:
    """``availability`` for each day of the window: ``date, provider, availability_pct`` (for timelines)."""
    engine = _engine(engine)
    frames = []
    for day in window.dates():
        if datetime(day.year, day.month, day.day) > _naive_now(now):
            break
        frame = availability(window=Window(day, day), now=now, engine=engine)
        frame.insert(0, "date", pd.Timestamp(day))
        frames.append(frame[["date", "provider", "availability_pct"]])
    if not frames:
        return pd.DataFrame(columns=["date", "provider", "availability_pct"])
    return pd.concat(frames, ignore_index=True)
