"""Reads of the budget holds (``llm_budget_holds``): what calls in flight hold against each hard
budget, and how many holds expired unsettled (a process died). ``reservations`` writes them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select

from .. import storage
from ..money import decimal_or_zero


def held_by_budget(conn, budget_ids: Iterable[int], now: datetime) -> dict[int, Decimal]:
    """Budget id -> the sum of its live (unexpired) holds, for the budgets that have any."""
    ids = list(budget_ids)
    if not ids:
        return {}
    h = storage.budget_holds
    rows = conn.execute(
        select(h.c.budget_id, func.sum(h.c.amount_usd))
        .where(h.c.budget_id.in_(ids), h.c.expires_at > now)
        .group_by(h.c.budget_id)
    )
    return {r[0]: decimal_or_zero(r[1]) for r in rows}


def expired_holds(conn, budget_id: int, since: datetime, now: datetime) -> int:
    """Holds on a budget made since ``since`` that expired without being settled."""
    h = storage.budget_holds
    return int(
        conn.execute(
            select(func.count()).where(h.c.budget_id == budget_id, h.c.created_at >= since, h.c.expires_at <= now)
        ).scalar_one()
    )
