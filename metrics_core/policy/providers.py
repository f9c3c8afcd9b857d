"""Provider settings people change (enable, priority, local/remote, circuit reset) and routing
(``pick_provider``): the highest-priority provider that is enabled, available and not stopped by a
spent hard budget."""

from __future__ import annotations

from sqlalchemy import select, update

from .. import clock, storage
from ..errors import ProviderNotFound
from ..queries import get_provider, list_providers, read_engine, unwritten_records
from ..recording import circuit_breaker
from ..recording.writer import refresh_caches
from .enforcement import blocked_providers


def _provider_id(conn, provider: int | str) -> int:
    p = storage.providers
    col = p.c.id if isinstance(provider, int) and not isinstance(provider, bool) else p.c.name
    if isinstance(provider, str):
        provider = provider.lower()  # provider names are case-insensitive
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
    engine = read_engine(engine)  # after this process's pending records
    with engine.connect() as conn, conn.execution_options(immediate=True).begin():
        pid = _provider_id(conn, provider)
        conn.execute(update(storage.providers).where(storage.providers.c.id == pid).values(enabled=enabled))
    return get_provider(pid, engine)


def set_priority(provider: int | str, priority: int, engine=None) -> dict:
    """Change a provider's priority (1 = first choice); returns the updated provider."""
    if not isinstance(priority, int) or isinstance(priority, bool) or priority < 1:
        raise ValueError(f"priority must be a whole number >= 1, got {priority!r}")
    engine = read_engine(engine)  # after this process's pending records
    with engine.connect() as conn, conn.execution_options(immediate=True).begin():
        pid = _provider_id(conn, provider)
        conn.execute(update(storage.providers).where(storage.providers.c.id == pid).values(priority=priority))
    return get_provider(pid, engine)


def set_provider_type(provider: int | str, provider_type: str, engine=None) -> dict:
    """Mark a provider ``local`` (costs 0 from now on) or ``remote``."""
    if provider_type not in ("local", "remote"):
        raise ValueError(f"provider_type must be 'local' or 'remote', got {provider_type!r}")
    engine = read_engine(engine)  # after this process's pending records
    with engine.connect() as conn, conn.execution_options(immediate=True).begin():
        pid = _provider_id(conn, provider)
        conn.execute(update(storage.providers).where(storage.providers.c.id == pid).values(provider_type=provider_type))
    refresh_caches()
    return get_provider(pid, engine)


def reset_circuit(provider: int | str, engine=None) -> dict:
    """Close a provider's circuit and clear its failure count; returns the updated provider. The
    calls this process recorded before land first (a bounded wait, as for reads)."""
    engine = read_engine(engine)
    with engine.connect() as conn:
        pid = _provider_id(conn, provider)
    circuit_breaker.reset(engine, pid, clock.utc_now())
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

    The provider's dict (as ``list_providers``) also says whether the choice may miss records this
    process made that are not written yet (``stale``, ``pending_records``): the pick never waits for
    a database that does not take writes.
    """
    candidates = list_providers(engine)
    blocked = blocked_providers(tags=tags, engine=engine)
    for p in candidates:
        if not p["enabled"] or not p["is_available"] or p["name"] in exclude or p["name"] in blocked:
            continue
        if provider_type and p["provider_type"] != provider_type:
            continue
        pending = unwritten_records()
        return {**p, "stale": pending > 0, "pending_records": pending}
    return None
