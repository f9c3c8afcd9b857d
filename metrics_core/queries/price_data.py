"""The genai-prices data a database prices with: where it came from, how old it is."""

from __future__ import annotations

from importlib.metadata import version

from .. import clock
from ..pricing import snapshot
from ..recording import price_data
from .common import read_engine

#: price data older than this many days is stale (the dashboard and ``prices status`` warn)
STALE_DAYS = 60


def price_data_status(engine=None) -> dict:
    """``{"source", "label", "as_of", "age_days", "stale", "stored_at", "models", "sha256"}``.

    The data is the newest file stored with ``llm-metrics prices update`` (``as_of`` = the day it
    was stored), else the data bundled with genai-prices (``as_of`` = the latest date any of its
    prices starts on: the data is at least that recent).
    """
    engine = read_engine(engine)
    with engine.connect() as conn:
        latest = price_data.latest(conn)
    if latest is None:
        providers = snapshot.bundled()
        as_of = snapshot.as_of(providers)
        status = {
            "source": f"bundled with genai-prices {version('genai_prices')}",
            "label": f"genai-prices:{version('genai_prices')}",
            "stored_at": None,
            "models": sum(len(p.models) for p in providers),
            "sha256": None,
        }
    else:
        as_of = latest["stored_at"].date()
        status = {
            "source": latest["source"],
            "label": price_data.label(latest["stored_at"]),
            "stored_at": latest["stored_at"],
            "models": latest["models"],
            "sha256": latest["sha256"],
        }
    age = None if as_of is None else (clock.today() - as_of).days
    return {**status, "as_of": as_of, "age_days": age, "stale": age is not None and age > STALE_DAYS}
