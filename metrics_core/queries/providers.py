"""Providers as people see them: settings, circuit state (derived at read time) and all-time totals.

Reads never write: an open circuit whose cooldown has passed reads ``half_open`` here, though the
transition is stored only when the next outcome is recorded (or a person resets the circuit).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import func, select

from .. import clock, storage
from ..config import settings
from ..errors import ProviderNotFound
from ..money import group_cost
from .common import as_naive, read_engine

CLOSED, HALF_OPEN, OPEN = "closed", "half_open", "open"


def effective_state(stored: str | None, opened_at: datetime | None, now: datetime, cooldown: timedelta) -> str:
    """The circuit state at ``now``: a stored ``open`` whose cooldown has passed is ``half_open``."""
    state = stored or CLOSED
    if state == OPEN and opened_at is not None and now - opened_at >= cooldown:
        return HALF_OPEN
    return state


def list_providers(engine=None) -> list[dict]:
    """Every provider with its circuit and all-time totals, by priority (cost as Decimal)."""
    engine = read_engine(engine)
    now = clock.utc_now()
    cooldown = timedelta(seconds=settings().circuit_cooldown_seconds)
    p, h, t = storage.providers, storage.provider_health, storage.costs_daily
    totals = (
        select(
            t.c.provider_id,
            func.sum(t.c.requests).label("requests"),
            func.sum(t.c.successful_requests).label("ok"),
            func.sum(t.c.failed_requests).label("failed"),
            func.sum(t.c.duration_count).label("dcount"),
            func.sum(t.c.duration_sum_ms).label("dsum"),
            func.sum(t.c.cost_usd).label("cost"),
            func.sum(t.c.unpriced_requests).label("unpriced"),
        )
        .group_by(t.c.provider_id)
        .subquery()
    )
    q = (
        select(
            p,
            h.c.circuit_state,
            h.c.failure_count,
            h.c.opened_at,
            h.c.last_success_at,
            h.c.last_failure_at,
            totals.c.requests,
            totals.c.ok,
            totals.c.failed,
            totals.c.dcount,
            totals.c.dsum,
            totals.c.cost,
            totals.c.unpriced,
        )
        .select_from(p.outerjoin(h, h.c.provider_id == p.c.id).outerjoin(totals, totals.c.provider_id == p.c.id))
        .order_by(p.c.priority, p.c.id)
    )
    with engine.connect() as conn:
        rows = conn.execute(q).all()
    return [_provider(r, now, cooldown) for r in rows]


def _provider(r, now: datetime, cooldown: timedelta) -> dict:
    state = effective_state(r.circuit_state, r.opened_at, now, cooldown)
    dcount = int(r.dcount or 0)
    return {
        "id": r.id,
        "name": r.name,
        "display_name": r.display_name,
        "provider_type": r.provider_type,
        "pricing_provider": r.pricing_provider,
        "priority": r.priority,
        "enabled": bool(r.enabled),
        "is_available": state != OPEN,
        "circuit_state": state,
        "failure_count": int(r.failure_count or 0),
        "opened_at": r.opened_at,
        "last_success_at": r.last_success_at,
        "last_failure_at": r.last_failure_at,
        "total_requests": int(r.requests or 0),
        "successful_requests": int(r.ok or 0),
        "failed_requests": int(r.failed or 0),
        "avg_response_time_ms": round(float(r.dsum) / dcount, 1) if dcount else 0.0,
        "total_cost_usd": group_cost(r.cost, r.requests, r.unpriced),
        "unpriced_requests": int(r.unpriced or 0),
    }


def get_provider(provider: int | str, engine=None) -> dict:
    """One provider by id or name; raises ``ProviderNotFound``."""
    for p in list_providers(engine):
        if p["id"] == provider or p["name"] == provider:
            return p
    raise ProviderNotFound(f"no provider with id or name {provider!r}")


def circuit_events(*, since: datetime | None = None, providers=None, engine=None) -> pd.DataFrame:
    """Circuit transitions (``provider, at, from_state, to_state, reason``), oldest first."""
    engine = read_engine(engine)
    e, p = storage.circuit_events, storage.providers
    q = select(p.c.name.label("provider"), e.c.at, e.c.from_state, e.c.to_state, e.c.reason).select_from(
        e.join(p, p.c.id == e.c.provider_id)
    )
    if since is not None:
        q = q.where(e.c.at >= as_naive(since))
    if providers:
        q = q.where(p.c.name.in_(providers))
    with engine.connect() as conn:
        rows = conn.execute(q.order_by(e.c.at, e.c.id)).all()
    return pd.DataFrame(rows, columns=["provider", "at", "from_state", "to_state", "reason"])
