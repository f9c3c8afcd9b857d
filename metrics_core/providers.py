"""Providers: listing with their health and totals, the few writes, and routing (``pick_provider``)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select, update

from . import db, health
from .errors import ProviderNotFound
from .queries import _engine, _money
from .recorder import refresh_caches


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def list_providers(engine=None) -> list[dict]:
    """Every provider with its circuit and all-time totals, by priority (cost as Decimal)."""
    engine = _engine(engine)
    health.refresh(engine, _now())
    p, h, t = db.providers, db.provider_health, db.costs_daily
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
    return [_provider(r) for r in rows]


def _provider(r) -> dict:
    state = r.circuit_state or health.CLOSED
    dcount = int(r.dcount or 0)
    return {
        "id": r.id,
        "name": r.name,
        "display_name": r.display_name,
        "provider_type": r.provider_type,
        "pricing_provider": r.pricing_provider,
        "priority": r.priority,
        "enabled": bool(r.enabled),
        "is_available": state != health.OPEN,
        "circuit_state": state,
        "failure_count": int(r.failure_count or 0),
        "opened_at": r.opened_at,
        "last_success_at": r.last_success_at,
        "last_failure_at": r.last_failure_at,
        "total_requests": int(r.requests or 0),
        "successful_requests": int(r.ok or 0),
        "failed_requests": int(r.failed or 0),
        "avg_response_time_ms": round(float(r.dsum) / dcount, 1) if dcount else 0.0,
        "total_cost_usd": _money(r.cost),
        "unpriced_requests": int(r.unpriced or 0),
    }


def get_provider(provider: int | str, engine=None) -> dict:
    """One provider by id or name; raises ``ProviderNotFound``."""
    for p in list_providers(engine):
        if p["id"] == provider or p["name"] == provider:
            return p
    raise ProviderNotFound(f"no provider with id or name {provider!r}")


def _provider_id(conn, provider: int | str) -> int:
    p = db.providers
    col = p.c.id if isinstance(provider, int) and not isinstance(provider, bool) else p.c.name
    pid = conn.execute(select(p.c.id).where(col == provider)).scalar()
    if pid is None:
        names = ", ".join(conn.execute(select(p.c.name).order_by(p.c.priority)).scalars())
        raise ProviderNotFound(f"no provider with id or name {provider!r}; known providers: {names}")
    return pid


def set_enabled(provider: int | str, enabled: bool, engine=None) -> dict:
    """Enable or disable a provider (by id or name); returns the updated provider."""
    if not isinstance(enabled, bool) and enabled not in (0, 1):
        raise ValueError(f"enabled must be True or False (or 1/0), got {enabled!r}")
    enabled = bool(enabled)
    engine = _engine(engine)
    with engine.begin() as conn:
        pid = _provider_id(conn, provider)
        conn.execute(update(db.providers).where(db.providers.c.id == pid).values(enabled=enabled))
    return get_provider(pid, engine)


def set_priority(provider: int | str, priority: int, engine=None) -> dict:
    """Change a provider's priority (1 = first choice); returns the updated provider."""
    if not isinstance(priority, int) or isinstance(priority, bool) or priority < 1:
        raise ValueError(f"priority must be a whole number >= 1, got {priority!r}")
    engine = _engine(engine)
    with engine.begin() as conn:
        pid = _provider_id(conn, provider)
        conn.execute(update(db.providers).where(db.providers.c.id == pid).values(priority=priority))
    return get_provider(pid, engine)


def set_provider_type(provider: int | str, provider_type: str, engine=None) -> dict:
    """Mark a provider ``local`` (costs 0 from now on) or ``remote``."""
    if provider_type not in ("local", "remote"):
        raise ValueError(f"provider_type must be 'local' or 'remote', got {provider_type!r}")
    engine = _engine(engine)
    with engine.begin() as conn:
        pid = _provider_id(conn, provider)
        conn.execute(update(db.providers).where(db.providers.c.id == pid).values(provider_type=provider_type))
    refresh_caches()
    return get_provider(pid, engine)


def reset_circuit(provider: int | str, engine=None) -> dict:
    """Close a provider's circuit and clear its failure count; returns the updated provider."""
    engine = _engine(engine)
    with engine.connect() as conn:
        pid = _provider_id(conn, provider)
    health.reset(engine, pid, _now())
    return get_provider(pid, engine)


def pick_provider(
    *, provider_type: str | None = None, exclude: tuple[str, ...] = (), engine=None, tags: dict[str, str] | None = None
) -> dict | None:
    """The highest-priority provider that is enabled, available and not stopped by a spent hard
    budget (None if there is none), so traffic falls back to local models.

    Args:
        provider_type: only ``local`` or only ``remote`` providers.
        exclude: provider names to skip (e.g. the one that just failed).
        tags: the call's tags, so that spent hard budgets on a tag (``project=search``) count too.
    """
    from .budgets import blocked_providers

    candidates = list_providers(engine)
    blocked = blocked_providers(tags=tags, engine=engine)
    for p in candidates:
        if not p["enabled"] or not p["is_available"] or p["name"] in exclude or p["name"] in blocked:
            continue
        if provider_type and p["provider_type"] != provider_type:
            continue
        return p
    return None
