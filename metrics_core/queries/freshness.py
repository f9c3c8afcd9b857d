"""Freshness and recorder figures: the dashboard's cache key, whether anything was recorded,
dropped records and the recent success rate."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import case, func, select

from .. import clock, storage
from .common import read_engine


def dropped_records(engine=None) -> int:
    """Records any process had to drop (reported in ``llm_recorder_faults``)."""
    engine = read_engine(engine)
    f = storage.recorder_faults
    with engine.connect() as conn:
        return int(
            conn.execute(select(func.coalesce(func.sum(f.c.count), 0)).where(f.c.kind == "dropped")).scalar_one()
        )


def recent_success_rate(minutes: int = 60, engine=None) -> tuple[int, float | None]:
    """(calls, success rate in percent) over the last ``minutes`` minutes of raw rows."""
    engine = read_engine(engine)
    r = storage.requests
    since = clock.utc_now() - timedelta(minutes=minutes)
    with engine.connect() as conn:
        total, ok = conn.execute(
            select(func.count(), func.coalesce(func.sum(case((r.c.status == "success", 1), else_=0)), 0)).where(
                r.c.timestamp >= since
            )
        ).one()
    return int(total), (round(int(ok) / int(total) * 100, 2) if total else None)


def data_version(engine=None) -> tuple:
    """A cheap fingerprint that changes whenever anything a page shows changes: new calls, repriced
    or rebuilt rollups, circuit transitions, provider settings, recorder faults. Pages key their
    caches on it, so a cached figure is never older than the data behind it."""
    engine = read_engine(engine)
    r, t, e, h, p, f = (
        storage.requests,
        storage.costs_daily,
        storage.circuit_events,
        storage.provider_health,
        storage.providers,
        storage.recorder_faults,
    )
    with engine.connect() as conn:
        last_request = conn.execute(select(func.max(r.c.id))).scalar()
        rollup = conn.execute(
            select(func.count(), func.sum(t.c.requests), func.sum(t.c.cost_usd), func.sum(t.c.reference_cost_usd))
        ).one()
        last_event = conn.execute(select(func.max(e.c.id))).scalar()
        health_rows = conn.execute(
            select(h.c.provider_id, h.c.circuit_state, h.c.failure_count, h.c.updated_at).order_by(h.c.provider_id)
        ).all()
        provider_rows = conn.execute(
            select(p.c.id, p.c.name, p.c.display_name, p.c.provider_type, p.c.priority, p.c.enabled).order_by(p.c.id)
        ).all()
        last_fault = conn.execute(select(func.max(f.c.id))).scalar()
    return (
        last_request,
        tuple(str(v) for v in rollup),
        last_event,
        last_fault,
        tuple(tuple(str(v) for v in row) for row in health_rows),
        tuple(tuple(row) for row in provider_rows),
    )


def has_calls(engine=None) -> bool:
    """Whether any call has been recorded at all (the dashboard's first-run check)."""
    engine = read_engine(engine)
    with engine.connect() as conn:
        return conn.execute(select(storage.requests.c.id).limit(1)).first() is not None
