"""Enforcement of hard budgets on the spend that has landed plus what calls in flight hold
(``reserve``): ``check_budget`` raises ``BudgetExceeded``, ``blocked_providers`` tells
``pick_provider`` which remote providers to skip."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import func, select

from .. import clock, storage
from ..errors import BudgetExceeded
from ..money import decimal_or_zero
from ..queries import read_engine
from .budgets import Budget, budget_from_row, period_bounds, period_label, scope_query
from .holds import held_by_budget

#: money columns keep 10 places (SQLite sums them as floats: compare at that precision)
MONEY_PLACES = Decimal("1e-10")


def spent_in(conn, budget: Budget, today: date) -> Decimal:
    """What has landed in the budget's current period (from the rollups), to 10 places."""
    start, end = period_bounds(budget.period, today)
    t, conds = scope_query(budget, start, min(end, today))
    return decimal_or_zero(conn.execute(select(func.sum(t.c.cost_usd)).where(*conds)).scalar()).quantize(MONEY_PLACES)


def _committed_now(budget: Budget, engine, now: datetime) -> tuple[Decimal, Decimal]:
    """(spent, held) of a budget now."""
    with engine.connect() as conn:
        held = held_by_budget(conn, [budget.id], now).get(budget.id, Decimal(0)).quantize(MONEY_PLACES)
        return spent_in(conn, budget, now.date()), held


def hard_budgets(conn) -> list[Budget]:
    """Every hard budget, by name."""
    rows = conn.execute(
        select(storage.budgets).where(storage.budgets.c.hard.is_(True)).order_by(storage.budgets.c.name)
    ).all()
    return [budget_from_row(r) for r in rows]


def _hard_budgets(engine) -> list[Budget]:
    with engine.connect() as conn:
        return hard_budgets(conn)


def check_budget(
    *,
    provider: str | None = None,
    model: str | None = None,
    tags: Mapping[str, str] | None = None,
    now: datetime | None = None,
    engine=None,
) -> None:
    """Raise ``BudgetExceeded`` if a hard budget covering this call is spent (what landed plus what
    calls in flight hold); else return None. Use ``reserve`` to also bound this call's own cost.

    A call is covered by every ``all`` budget and by the provider, model and tag budgets that
    match the attributes given (an attribute not given matches no scoped budget). Calls to a
    local provider (which cost nothing) are never blocked. Soft budgets never raise.

    Args:
        provider: our provider name, e.g. ``claude``.
        model: the model name as recorded.
        tags: the call's tags, e.g. ``{"project": "search"}``.

    Raises:
        BudgetExceeded: naming the budget, its spend and its limit.
    """
    engine = read_engine(engine)
    if provider is not None and provider in _local_providers(engine):
        return
    now = clock.naive_utc(now)
    for budget in _hard_budgets(engine):
        if not budget.applies_to(provider=provider, model=model, tags=tags):
            continue
        spent, held = _committed_now(budget, engine, now)
        if spent + held >= budget.amount_usd:
            raise BudgetExceeded(
                budget.name,
                spent,
                budget.amount_usd,
                period_label(budget.period, period_bounds(budget.period, now.date())[0]),
                held=held if held else None,
            )


def _local_providers(engine) -> set[str]:
    p = storage.providers
    with engine.connect() as conn:
        return set(conn.execute(select(p.c.name).where(p.c.provider_type == "local")).scalars())


def blocked_providers(*, tags: Mapping[str, str] | None = None, now: datetime | None = None, engine=None) -> set[str]:
    """Remote providers whose traffic a spent (or fully held) hard budget stops (``all``, provider, or matching tag
    scope); ``pick_provider`` skips them. Model budgets block in ``check_budget`` only."""
    engine = engine if engine is not None else storage.get_engine()
    hard = [
        b
        for b in _hard_budgets(engine)
        if b.scope in ("all", "provider") or (b.scope == "tag" and b.applies_to(tags=tags))
    ]
    if not hard:
        return set()
    now = clock.naive_utc(now)
    spent = [b for b in hard if sum(_committed_now(b, engine, now)) >= b.amount_usd]
    if not spent:
        return set()
    p = storage.providers
    with engine.connect() as conn:
        remote = set(conn.execute(select(p.c.name).where(p.c.provider_type != "local")).scalars())
    if any(b.scope != "provider" for b in spent):
        return remote
    return remote & {b.scope_value for b in spent}
