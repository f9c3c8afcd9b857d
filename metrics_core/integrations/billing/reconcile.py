"""Pull a provider's billed usage and cost for some UTC days and store them, replacing those days whole.

The one module of this package that touches the database: the clients (``openai``, ``anthropic``)
return complete days or raise, and ``storage.billed.replace_days`` writes them in one transaction,
so a failed pull (timeout, rejected key, 429 after every retry, a page missing) leaves the stored
billed figures exactly as they were. Billed (dated) model names are matched to recorded aliases here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import httpx

from metrics_core import clock, storage
from metrics_core.integrations.billing import anthropic, openai
from metrics_core.integrations.billing.fetch import DEFAULT_TIMEOUT, AdminKey, default_sleep
from metrics_core.integrations.billing.records import PROVIDERS, BillingPull, recorded_model_name
from metrics_core.queries import billing as billing_queries
from metrics_core.storage import billed

CLIENTS = {"openai": openai, "anthropic": anthropic}
MAX_DAYS = 366


@dataclass(frozen=True)
class StoredPull:
    """What one ``pull_and_store`` wrote: the days replaced and their rows."""

    provider: str
    first_day: date
    last_day: date
    days: int
    model_rows: int
    other_rows: int
    unmatched_models: tuple[str, ...]  # billed names no recorded model matched


def last_days(days: int, today: date | None = None) -> tuple[date, date]:
    """``(start, end)`` of the last ``days`` complete UTC days: end is today, exclusive."""
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= MAX_DAYS:
        raise ValueError(f"days must be a whole number from 1 to {MAX_DAYS}, got {days!r}")
    end = today or clock.today()
    return end - timedelta(days=days), end


def rows_of(pulled: BillingPull, recorded_models: list[str]) -> list[dict]:
    """The ``llm_billed_daily`` rows of a pull: one per billed model and day, one per other line item."""
    rows = [
        {
            "day": u.day,
            "kind": "model",
            "billed_model": u.model,
            "recorded_model": recorded_model_name(u.model, recorded_models),
            "input_tokens": u.input_tokens,
            "cached_input_tokens": u.cached_input_tokens,
            "cache_write_tokens": u.cache_write_tokens,
            "output_tokens": u.output_tokens,
            "requests": u.requests,
            "cost_usd": u.cost_usd,
        }
        for u in pulled.usage
    ]
    other: dict[tuple[date, str], Decimal] = {}
    for line in pulled.unattributed:  # the same line item twice in a day (several projects) is one row
        other[(line.day, line.line_item)] = other.get((line.day, line.line_item), Decimal(0)) + line.cost_usd
    rows += [
        {
            "day": day,
            "kind": "other",
            "billed_model": item,
            "recorded_model": None,
            "input_tokens": 0,
            "cached_input_tokens": 0,
            "cache_write_tokens": 0,
            "output_tokens": 0,
            "requests": None,
            "cost_usd": cost,
        }
        for (day, item), cost in sorted(other.items())
    ]
    return rows


def pull_and_store(
    *,
    provider: str,
    start: date,
    end: date,
    key: AdminKey | None = None,
    client: httpx.Client | None = None,
    base_url: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    sleep: Callable[[float], None] = default_sleep,
    engine=None,
) -> StoredPull:
    """Pull ``provider``'s billed figures for the UTC days ``start`` .. ``end`` (exclusive) and store them.

    Args:
        provider: ``openai`` or ``anthropic``.
        key: the admin key; default from ``OPENAI_ADMIN_KEY`` / ``ANTHROPIC_ADMIN_KEY``.
        client: an ``httpx.Client`` to send through (tests; the CLI's progress hook).
        base_url: the provider's API root (default the real one; tests point it at a local server).

    Raises:
        BillingError: nothing was stored (the pull failed before any write).
    """
    if provider not in CLIENTS:
        raise ValueError(f"provider must be one of {', '.join(PROVIDERS)}, got {provider!r}")
    if end > clock.today() + timedelta(days=1):
        raise ValueError(f"end must be at most tomorrow (exclusive; a day not yet begun has no report), got {end}")
    module = CLIENTS[provider]
    pulled = module.pull(
        start=start,
        end=end,
        key=key,
        client=client,
        base_url=base_url or module.BASE_URL,
        timeout=timeout,
        sleep=sleep,
    )
    engine = engine if engine is not None else storage.get_engine()
    rows = rows_of(pulled, billing_queries.recorded_models(provider, engine=engine))
    billed.replace_days(engine, provider=provider, days=pulled.days, rows=rows, pulled_at=clock.utc_now())
    models = [r for r in rows if r["kind"] == "model"]
    return StoredPull(
        provider=provider,
        first_day=pulled.days[0],
        last_day=pulled.days[-1],
        days=len(pulled.days),
        model_rows=len(models),
        other_rows=len(rows) - len(models),
        unmatched_models=tuple(sorted({r["billed_model"] for r in models if r["recorded_model"] is None})),
    )
