"""Price data files stored in the database: every process of the database prices with the newest.

``store`` validates a genai-prices data file and keeps it (``llm_price_data``); ``activate`` loads
the newest stored file into genai-prices in this process (the writer calls it with its price
overrides, so other processes pick an update up within 30 seconds); ``fetch`` reads a data file from
a URL.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

import httpx
from sqlalchemy import func, select

from .. import storage
from ..clock import utc_now
from ..pricing import snapshot

#: where genai-prices publishes its data file (what genai-prices' own UpdatePrices fetches)
DEFAULT_URL = "https://raw.githubusercontent.com/pydantic/genai-prices/refs/heads/main/prices/new_data/v2/data.json"
MAX_BYTES = 50_000_000


def fetch(url: str, timeout: float = 30.0) -> bytes:
    """The body of ``url``; ``ValueError`` naming the URL when it cannot be read."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"url must start with http:// or https://, got {url!r}")
    try:
        response = httpx.get(url, timeout=timeout, follow_redirects=True)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise ValueError(f"could not fetch the price data from {url}: {exc}") from None
    if len(response.content) > MAX_BYTES:
        raise ValueError(f"the price data at {url} is larger than {MAX_BYTES:,} bytes")
    return response.content


def label(stored_at: datetime) -> str:
    """``price_source`` of calls priced with data stored at ``stored_at``."""
    return f"genai-prices:{stored_at:%Y-%m-%d}"


def store(engine, data: bytes | str, source: str) -> dict:
    """Validate ``data`` (a genai-prices data file), keep it as the data of this database, use it here.

    Returns ``{"id", "models", "added", "removed", "changed", "unchanged"}``: the models added,
    removed and with other prices, against the data in use before.
    """
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    providers = snapshot.parse(text)
    before = snapshot.in_use()
    diff = snapshot.changes(before, providers)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    models = sum(len(p.models) for p in providers)
    t = storage.price_data
    now = utc_now()
    with engine.begin() as conn:
        new_id = conn.execute(
            t.insert().values(stored_at=now, source=source, sha256=digest, models=models, data=text)
        ).inserted_primary_key[0]
    snapshot.install(providers, label=label(now), key=new_id, as_of=now.date())
    return {"id": new_id, "models": models, **diff, "unchanged": diff == {"added": [], "removed": [], "changed": []}}


def latest(conn) -> dict | None:
    """The newest stored data file's id, stored_at, source, sha256 and models (not its data), or None."""
    t = storage.price_data
    newest = select(func.max(t.c.id)).scalar_subquery()
    row = conn.execute(
        select(t.c.id, t.c.stored_at, t.c.source, t.c.sha256, t.c.models).where(t.c.id == newest)
    ).first()
    return None if row is None else dict(row._mapping)


def activate(conn) -> bool:
    """Price with the newest stored data file in this process (if it is not in use yet); True if it
    changed the data in use."""
    newest = latest(conn)
    if newest is None:
        if snapshot.installed_key() is None:
            return False
        snapshot.install(None)
        return True
    if newest["id"] == snapshot.installed_key():
        return False
    t = storage.price_data
    text = conn.execute(select(t.c.data).where(t.c.id == newest["id"])).scalar_one()
    snapshot.install(
        snapshot.parse(text), label=label(newest["stored_at"]), key=newest["id"], as_of=newest["stored_at"].date()
    )
    return True
