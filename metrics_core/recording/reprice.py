"""Reprice: price stored calls again (after genai-prices data or a price override changed), then
rebuild the rollups of the days touched; or, as a dry run, say what would change."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, timedelta

from sqlalchemy import and_, bindparam, select, update

from .. import storage
from ..config import settings
from ..money import ZERO, quantize_stored
from ..pricing import TokenUsage, price_call, reference_cost
from ..storage import rollups
from . import price_data
from .registry import load_overrides


def stored_usage(row) -> TokenUsage | None:
    """The usage of a stored ``llm_requests`` row as pricing takes it (None: usage not known)."""
    if row.usage_known is False:
        return None
    return TokenUsage(
        row.prompt_tokens,
        row.completion_tokens,
        row.cache_read_tokens,
        row.cache_write_tokens,
        row.reasoning_tokens,
        row.service_tier,
        json.loads(row.usage_details) if row.usage_details else None,
    )


def reprice(
    engine,
    start: date | None = None,
    end: date | None = None,
    progress: Callable[[int], None] | None = None,
    *,
    dry_run: bool = False,
) -> dict:
    """Price the raw rows of days ``start``..``end`` again, then rebuild those days' rollups.

    With ``dry_run`` nothing is written. Returns ``{"rows": n, "changed": n, "cost_before": Decimal,
    "cost_after": Decimal, "models": {(provider, model): {"calls", "changed", "cost_before",
    "cost_after"}}}`` (``models`` lists the models with a changed call). ``progress(n)`` is called
    after each day with the rows read.
    """
    span = rollups.days_with_data(engine, start, end)
    summary = {"rows": 0, "changed": 0, "cost_before": ZERO, "cost_after": ZERO, "models": {}}
    if span is None:
        return summary
    cfg = settings()
    r, p = storage.requests, storage.providers
    with engine.connect() as conn:
        price_data.activate(conn)
        overrides = load_overrides(conn)
        providers = {
            row.id: row for row in conn.execute(select(p.c.id, p.c.name, p.c.provider_type, p.c.pricing_provider))
        }
    models = summary["models"]
    day = span[0]
    while day <= span[1]:
        lo, hi = rollups.day_bounds(day, day)
        with engine.connect() as conn, conn.execution_options(immediate=True).begin():
            rows = conn.execute(select(r).where(and_(r.c.timestamp >= lo, r.c.timestamp < hi))).all()
            changes = []
            for row in rows:
                prov = providers[row.provider_id]
                usage = stored_usage(row)
                override = overrides.get((prov.name, row.model)) or overrides.get(("*", row.model))
                price = price_call(
                    provider_type=prov.provider_type,
                    pricing_provider=prov.pricing_provider,
                    model=row.model,
                    usage=usage,
                    timestamp=row.timestamp,
                    override=override,
                )
                ref = reference_cost(usage, row.timestamp, provider=cfg.reference_provider, model=cfg.reference_model)
                summary["cost_before"] += row.cost_usd or ZERO
                summary["cost_after"] += price.cost_usd or ZERO
                if (quantize_stored(price.cost_usd), quantize_stored(ref), price.source) != (
                    quantize_stored(row.cost_usd),
                    quantize_stored(row.reference_cost_usd),
                    row.price_source,
                ):
                    changes.append({"rid": row.id, "c": price.cost_usd, "rc": ref, "ps": price.source})
                    model = models.setdefault(
                        (prov.name, row.model), {"changed": 0, "cost_before": ZERO, "cost_after": ZERO}
                    )
                    model["changed"] += 1
                    model["cost_before"] += row.cost_usd or ZERO
                    model["cost_after"] += price.cost_usd or ZERO
            if changes and not dry_run:
                conn.execute(
                    update(r)
                    .where(r.c.id == bindparam("rid"))
                    .values(cost_usd=bindparam("c"), reference_cost_usd=bindparam("rc"), price_source=bindparam("ps")),
                    changes,
                )
        summary["rows"] += len(rows)
        summary["changed"] += len(changes)
        if progress:
            progress(len(rows))
        day += timedelta(days=1)
    if not dry_run:
        rollups.rebuild(engine, span[0], span[1])
    return summary
