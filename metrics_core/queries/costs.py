"""Cost figures: spend, the reference cost, savings and unpriced calls, per window, provider, model
and tag. Money is Decimal; a group none of whose calls could be priced has cost None."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pandas as pd
from sqlalchemy import and_, func, select

from .. import storage
from ..config import settings
from ..money import HUNDRED, ZERO, decimal_or_zero, group_cost
from .common import Window, floats, measure_sums, read_engine, rollup_filter, window_of


def cost_figures(row, *, group: bool) -> dict:
    """The cost figures of a rollup sum ``row``.

    ``group=True`` (a provider, model, tag value or day): when the group has calls and none of them
    could be priced, its cost, savings and savings percentage are unknown (None). ``group=False``
    (a window's total): sums over the priced calls, with ``unpriced_requests`` beside them.
    """
    cost = group_cost(row.cost_usd, row.requests, row.unpriced_requests) if group else decimal_or_zero(row.cost_usd)
    hypothetical = decimal_or_zero(row.reference_cost_usd)
    priced_ref = decimal_or_zero(row.priced_reference_cost_usd)
    savings = None if cost is None else priced_ref - cost
    if savings is None:
        savings_pct = None
    else:
        savings_pct = (savings / priced_ref * 100) if priced_ref else ZERO
    return {
        "total_requests": int(row.requests or 0),
        "total_cost_usd": cost,
        "hypothetical_claude_cost_usd": hypothetical,
        "priced_hypothetical_cost_usd": priced_ref,
        "estimated_savings_usd": savings,
        "savings_percentage": savings_pct,
        "unpriced_requests": int(row.unpriced_requests or 0),
        "prompt_tokens": int(row.prompt_tokens or 0),
        "completion_tokens": int(row.completion_tokens or 0),
    }


def cost_summary(
    days: int | None = None,
    *,
    window: Window | None = None,
    providers: list[str] | None = None,
    models: list[str] | None = None,
    engine=None,
) -> dict:
    """Spend, what the same traffic would have cost on the reference model, and the savings.

    ``hypothetical_claude_cost_usd`` sums every call's reference cost; savings and their
    percentage compare priced calls only (an unpriced call has no actual cost to compare), so
    ``savings_percentage`` = savings / reference cost of the priced calls x 100 — the same as
    savings / hypothetical whenever every call is priced. Money values are Decimal.
    """
    window = window_of(days, window, 30)
    engine = read_engine(engine)
    t, p = storage.costs_daily, storage.providers
    with engine.connect() as conn:
        where = rollup_filter(t, window, providers, models, conn)
        joined = t.join(p, p.c.id == t.c.provider_id)
        by_type = {
            r.provider_type: int(r.n)
            for r in conn.execute(
                select(p.c.provider_type, func.coalesce(func.sum(t.c.requests), 0).label("n"))
                .select_from(joined)
                .where(where)
                .group_by(p.c.provider_type)
            )
        }
        total = conn.execute(select(*measure_sums(t)).where(where)).one()
        result = cost_figures(total, group=False)
        local = by_type.get("local", 0)
        result.update(
            local_requests=local,
            remote_requests=by_type.get("remote", 0),
            local_share_pct=local_share(local, result["total_requests"]),
            reference_model=settings().reference_model,
            window_start=window.start.isoformat(),
            window_end=window.end.isoformat(),
            days=window.days,
        )
        by_p = conn.execute(
            select(p.c.name.label("provider"), p.c.display_name, p.c.provider_type, *measure_sums(t))
            .select_from(joined)
            .where(where)
            .group_by(p.c.name, p.c.display_name, p.c.provider_type)
            .order_by(p.c.name)
        ).all()
        result["by_provider"] = [
            {
                "provider": r.provider,
                "display_name": r.display_name,
                "provider_type": r.provider_type,
                **cost_figures(r, group=True),
            }
            for r in by_p
        ]
        by_m = conn.execute(
            select(p.c.name.label("provider"), p.c.provider_type, t.c.model, *measure_sums(t))
            .select_from(joined)
            .where(where)
            .group_by(p.c.name, p.c.provider_type, t.c.model)
            .order_by(p.c.name, t.c.model)
        ).all()
        result["by_model"] = [
            {"provider": r.provider, "provider_type": r.provider_type, "model": r.model, **cost_figures(r, group=True)}
            for r in by_m
        ]
    return result


def tag_costs(
    days: int | None = None,
    *,
    window: Window | None = None,
    tag_key: str | None = None,
    providers: list[str] | None = None,
    models: list[str] | None = None,
    engine=None,
) -> pd.DataFrame:
    """Cost and savings by tag (``tag_key``, ``tag_value``), from the per-tag rollup."""
    window = window_of(days, window, 30)
    engine = read_engine(engine)
    t = storage.tag_costs_daily
    with engine.connect() as conn:
        where = rollup_filter(t, window, providers, models, conn)
        if tag_key:
            where = and_(where, t.c.tag_key == tag_key)
        rows = conn.execute(
            select(t.c.tag_key, t.c.tag_value, *measure_sums(t))
            .where(where)
            .group_by(t.c.tag_key, t.c.tag_value)
            .order_by(t.c.tag_key, t.c.tag_value)
        ).all()
    return pd.DataFrame(
        [{"tag_key": r.tag_key, "tag_value": r.tag_value, **floats(cost_figures(r, group=True))} for r in rows],
        columns=[
            "tag_key",
            "tag_value",
            "total_requests",
            "total_cost_usd",
            "hypothetical_claude_cost_usd",
            "priced_hypothetical_cost_usd",
            "estimated_savings_usd",
            "savings_percentage",
            "unpriced_requests",
            "prompt_tokens",
            "completion_tokens",
        ],
    )


def cost_frame(
    days: int | None = None,
    *,
    window: Window | None = None,
    by: str = "model",
    providers=None,
    models=None,
    engine=None,
) -> pd.DataFrame:
    """``cost_summary()``'s ``by_provider`` or ``by_model`` rows as a DataFrame (money as float)."""
    result = cost_summary(days, window=window, providers=providers, models=models, engine=engine)
    return pd.DataFrame([floats(r) for r in result["by_provider" if by == "provider" else "by_model"]])


def local_share(local_requests: int, total_requests: int) -> Decimal | None:
    """Percent of calls served by local providers (which cost nothing); None without calls."""
    return Decimal(local_requests) * HUNDRED / total_requests if total_requests else None


def price_sources(
    days: int | None = None,
    *,
    window: Window | None = None,
    providers: list[str] | None = None,
    models: list[str] | None = None,
    engine=None,
) -> list[dict]:
    """How many calls of the window each price source priced, and their cost (most calls first).

    A source is ``genai-prices:<data version or date>``, ``override:<id>``, ``local`` or
    ``unpriced`` (cost None). Read from the raw rows of the window (the rollups do not keep it).
    """
    window = window_of(days, window, 30)
    engine = read_engine(engine)
    r, p = storage.requests, storage.providers
    lo, hi = datetime(*window.start.timetuple()[:3]), datetime(*window.end.timetuple()[:3]) + timedelta(days=1)
    conds = [r.c.timestamp >= lo, r.c.timestamp < hi]
    if providers:
        conds.append(r.c.provider_id.in_(select(p.c.id).where(p.c.name.in_(providers))))
    if models:
        conds.append(r.c.model.in_(models))
    source = func.coalesce(r.c.price_source, "unpriced")
    with engine.connect() as conn:
        rows = conn.execute(
            select(source.label("source"), func.count().label("calls"), func.sum(r.c.cost_usd).label("cost"))
            .where(and_(*conds))
            .group_by(source)
        ).all()
    out = [
        {
            "price_source": row.source,
            "calls": int(row.calls),
            "cost_usd": None if row.cost is None else Decimal(row.cost),
        }
        for row in rows
    ]
    return sorted(out, key=lambda d: (-d["calls"], d["price_source"]))
