"""The provider registry the writer keeps: names -> (id, type, pricing provider), new names
registered on first use; and the price overrides it prices with."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import select

from .. import storage
from ..config import settings
from ..pricing import PriceOverride


class ProviderCache:
    """Provider name -> (id, provider_type, pricing_provider), registering unknown names.

    Names are case-insensitive: ``Ollama`` is the provider ``ollama``; a new name is registered in
    lower case, with the name as first written as its display name.

    Names read or registered inside a transaction are kept only once it commits (``commit()``): a
    rolled-back registration must not leave an id behind that no row has.
    """

    def __init__(self) -> None:
        self.by_name: dict[str, tuple[int, str, str | None]] = {}
        self.pending: dict[str, tuple[int, str, str | None]] = {}

    def resolve(self, conn, names: set[str], now: datetime) -> dict[str, tuple[int, str, str | None]]:
        self.pending = {}
        missing = names - self.by_name.keys()
        if not missing:
            return self.by_name
        self._load(conn, missing)
        still = missing - self.pending.keys()
        if still:
            register_providers(conn, still, now)
            self._load(conn, still)
        return {**self.by_name, **self.pending}

    def commit(self) -> None:
        self.by_name.update(self.pending)
        self.pending = {}

    def _load(self, conn, names) -> None:
        p = storage.providers
        by_lower: dict[str, list[str]] = {}
        for name in names:
            by_lower.setdefault(name.lower(), []).append(name)
        rows = conn.execute(
            select(p.c.id, p.c.name, p.c.provider_type, p.c.pricing_provider).where(p.c.name.in_(list(by_lower)))
        )
        for row in rows:
            for name in by_lower.get(row.name, ()):
                self.pending[name] = (row.id, row.provider_type, row.pricing_provider)


def register_providers(conn, names, now: datetime) -> None:
    """Add providers by name, in lower case (remote unless configured local), each with a health row;
    the name as given is the display name."""
    cfg = settings()
    p = storage.providers
    display = {}
    for given in sorted(names):
        display.setdefault(given.lower(), given)
    for name, display_name in sorted(display.items()):
        local = name in cfg.local_providers
        priority = conn.execute(select(p.c.priority).order_by(p.c.priority.desc()).limit(1)).scalar() or 0
        exists = conn.execute(select(p.c.id).where(p.c.name == name)).scalar()
        if exists is not None:
            continue
        values = dict(
            name=name,
            display_name=display_name,
            provider_type="local" if local else "remote",
            pricing_provider=None if local else cfg.pricing_providers.get(name.lower(), name.lower()),
            priority=priority + 1,
            enabled=True,
            created_at=now,
        )
        if conn.dialect.name == "postgresql":
            # Another process may register the same name at the same moment: let one of them win.
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            stmt = pg_insert(p).values(**values).on_conflict_do_nothing(index_elements=["name"]).returning(p.c.id)
            new_id = conn.execute(stmt).scalar()
            if new_id is None:
                continue
        else:
            new_id = conn.execute(p.insert().values(**values)).inserted_primary_key[0]
        conn.execute(
            storage.provider_health.insert().values(
                provider_id=new_id, is_available=True, circuit_state="closed", failure_count=0, updated_at=now
            )
        )


OVERRIDES_TTL = 30  # seconds before the writer reads price overrides and provider types again


def load_overrides(conn) -> dict[tuple[str, str], PriceOverride]:
    o = storage.price_overrides
    result = {}
    for row in conn.execute(select(o).order_by(o.c.id)):
        result[(row.provider_name.lower(), row.model)] = PriceOverride(
            Decimal(row.input_mtok),
            Decimal(row.output_mtok),
            None if row.cache_read_mtok is None else Decimal(row.cache_read_mtok),
            None if row.cache_write_mtok is None else Decimal(row.cache_write_mtok),
            row.id,
        )
    return result
