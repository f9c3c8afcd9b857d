"""Enforcement of hard budgets on the spend that has landed plus what calls in flight hold
(``reserve``): ``check_budget`` raises ``BudgetExceeded``, ``blocked_providers`` tells
``pick_provider`` which remote providers to skip."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal

from sqlalchemy import bindparam, func, select

from .. import clock, storage
from ..errors import BudgetExceeded
from ..money import decimal_or_zero
from ..queries import read_engine
from .budgets import Budget, budget_from_row, period_bounds, period_label

#: money columns keep 10 places (SQLite sums them as floats: compare at that precision)
MONEY_PLACES = Decimal("1e-10")


#: scopes -> (statement, its parameter names), built once: a cached statement runs ~10x faster
_STATEMENTS: dict[tuple[str, ...], tuple] = {}


def _spent_and_held_statement(scopes: tuple[str, ...]):
    cached = _STATEMENTS.get(scopes)
    if cached is not None:
        return cached
    h = storage.budget_holds
    columns = []
    for i, scope in enumerate(scopes):
        if scope == "tag":
            t = storage.tag_costs_daily
            conds = [t.c.tag_key == bindparam(f"k{i}"), t.c.tag_value == bindparam(f"v{i}")]
        else:
            t = storage.costs_daily
            conds = []
            if scope == "provider":
                names = select(storage.providers.c.id).where(storage.providers.c.name == bindparam(f"v{i}"))
                conds.append(t.c.provider_id.in_(names))
            elif scope == "model":
                conds.append(t.c.model == bindparam(f"v{i}"))
        spent = select(func.sum(t.c.cost_usd)).where(
            t.c.day >= bindparam(f"s{i}"), t.c.day <= bindparam(f"e{i}"), *conds
        )
        held = select(func.sum(h.c.amount_usd)).where(
            h.c.budget_id == bindparam(f"b{i}"), h.c.expires_at > bindparam("now")
        )
        columns += [spent.scalar_subquery().label(f"s{i}"), held.scalar_subquery().label(f"h{i}")]
    stmt = select(*columns)
    cached = (stmt, frozenset(stmt.compile().params))
    if len(_STATEMENTS) < 256:
        _STATEMENTS[scopes] = cached
    return cached


def spent_and_held(conn, budgets: list[Budget], now: datetime) -> list[tuple[Decimal, Decimal]]:
    """(spent this period, held by live holds) of each budget, to 10 places, read in ONE statement.

    One statement is one snapshot on PostgreSQL: a call settled meanwhile (its record committed,
    then its hold deleted) shows as its hold, its record, or both; never as neither.
    """
    if not budgets:
        return []
    params: dict = {"now": now}
    for i, budget in enumerate(budgets):
        start, end = period_bounds(budget.period, now.date())
        params.update({f"s{i}": start, f"e{i}": min(end, now.date()), f"b{i}": budget.id})
        params[f"v{i}"], params[f"k{i}"] = budget.scope_value, budget.scope_key
    statement, names = _spent_and_held_statement(tuple(b.scope for b in budgets))
    row = conn.execute(statement, {k: v for k, v in params.items() if k in names}).one()
    return [
        (decimal_or_zero(row[2 * i]).quantize(MONEY_PLACES), decimal_or_zero(row[2 * i + 1]).quantize(MONEY_PLACES))
        for i in range(len(budgets))
    ]


def _committed_now(budget: Budget, engine, now: datetime) -> tuple[Decimal, Decimal]:
    """(spent, held) of a budget now."""
    with engine.connect() as conn:
        return spent_and_held(conn, [budget], now)[0]


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
    if provider is not None:
        provider = provider.lower()  # provider names are case-insensitive
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
