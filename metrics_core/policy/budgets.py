"""Budgets: limits on spend per scope and period, their status, a forecast, and enforcement.

A budget has a *scope* (everything, one provider, one model, or one tag such as
``project=search``), an amount in USD, a *period* (``monthly`` by default, ``weekly`` = ISO week
from Monday, ``daily``; UTC days), alert thresholds in percent (default 50, 80, 100) and is *soft*
(alerts only) or *hard* (``check_budget`` raises ``BudgetExceeded`` and ``pick_provider`` skips the
remote providers it covers, so traffic falls back to local models; ``reserve`` holds a call's
worst-case cost against it before the call, see ``policy.reservations``).

Spend comes from the daily rollups (``llm_costs_daily``, ``llm_tag_costs_daily``), never from raw
rows. Unpriced calls have no cost and are not in the spend (the status counts them). What calls in
flight hold against a hard budget (``held``) counts with the spend in the percent, state, alerts
and forecast.

The forecast method is described in ``policy.forecast``.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

import pandas as pd
from sqlalchemy import delete, func, select, update

from .. import clock, storage
from ..errors import MetricsError
from ..money import HUNDRED, ZERO, decimal_or_zero
from ..queries import as_date, read_engine
from .forecast import LOOKBACK_DAYS, Forecast, forecast
from .holds import expired_holds, held_by_budget

PERIODS = ("monthly", "weekly", "daily")
SCOPES = ("all", "provider", "model", "tag")
DEFAULT_THRESHOLDS = (50, 80, 100)


class BudgetNotFound(MetricsError, LookupError):
    """No budget has that name or id."""


@dataclass(frozen=True)
class Budget:
    """One budget as stored."""

    id: int
    name: str
    scope: str  # all | provider | model | tag
    scope_key: str | None
    scope_value: str | None
    amount_usd: Decimal
    period: str
    thresholds: tuple[float, ...]
    hard: bool

    @property
    def scope_label(self) -> str:
        """``all``, ``provider:claude``, ``model:gpt-4o`` or ``tag:project=search`` (what ``parse_scope`` reads)."""
        if self.scope == "all":
            return "all"
        if self.scope == "tag":
            return f"tag:{self.scope_key}={self.scope_value}"
        return f"{self.scope}:{self.scope_value}"

    def applies_to(
        self, *, provider: str | None = None, model: str | None = None, tags: Mapping[str, str] | None = None
    ) -> bool:
        """Whether a call with these attributes counts against this budget."""
        if self.scope == "all":
            return True
        if self.scope == "provider":
            return provider is not None and provider.lower() == self.scope_value.lower()
        if self.scope == "model":
            return model == self.scope_value
        return bool(tags) and tags.get(self.scope_key) == self.scope_value


# -- periods ------------------------------------------------------------------------------------


def period_bounds(period: str, day: date) -> tuple[date, date]:
    """First and last day of the ``period`` (monthly, weekly = ISO week, daily) holding ``day``."""
    if period == "monthly":
        return day.replace(day=1), day.replace(day=calendar.monthrange(day.year, day.month)[1])
    if period == "weekly":
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=6)
    if period == "daily":
        return day, day
    raise ValueError(f"period must be one of {', '.join(PERIODS)}; got {period!r}")


def period_label(period: str, start: date) -> str:
    """``2026-11`` (monthly), ``2026-W48`` (weekly) or ``2026-11-29`` (daily)."""
    if period == "monthly":
        return start.strftime("%Y-%m")
    if period == "weekly":
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    return start.isoformat()


# -- parsing and validation ---------------------------------------------------------------------


def parse_scope(text: str | None) -> tuple[str, str | None, str | None]:
    """``all`` | ``provider:NAME`` | ``model:NAME`` | ``tag:KEY=VALUE`` -> (scope, key, value)."""
    if text is None or text.strip() in ("", "all", "*"):
        return "all", None, None
    kind, sep, rest = text.partition(":")
    kind, rest = kind.strip(), rest.strip()
    if not sep or kind not in SCOPES[1:] or not rest:
        raise ValueError(f"scope must be all, provider:NAME, model:NAME or tag:KEY=VALUE; got {text!r}")
    if kind == "tag":
        key, eq, value = rest.partition("=")
        if not eq or not key.strip() or not value.strip():
            raise ValueError(f"a tag scope is tag:KEY=VALUE, e.g. tag:project=search; got {text!r}")
        return "tag", key.strip(), value.strip()
    if kind == "provider":
        return kind, None, rest.lower()  # provider names are case-insensitive
    return kind, None, rest


def _amount(value) -> Decimal:
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"amount_usd must be a number of USD, got {value!r}") from None
    if not amount.is_finite() or amount <= 0:
        raise ValueError(f"amount_usd must be a finite number > 0, got {value!r}")
    return amount


def _thresholds(values) -> tuple[float, ...]:
    if isinstance(values, str):
        values = [v for v in values.replace(" ", "").split(",") if v]
    try:
        result = sorted({float(v) for v in values})
    except (TypeError, ValueError):
        raise ValueError(f"thresholds must be percents such as 50,80,100; got {values!r}") from None
    if not result or any(not 0 < t <= 1000 for t in result):
        raise ValueError(f"thresholds must be percents > 0 and <= 1000, e.g. 50,80,100; got {values!r}")
    return tuple(result)


def _format_thresholds(values: Iterable[float]) -> str:
    return ",".join(f"{t:g}" for t in values)


# -- storage ------------------------------------------------------------------------------------


def budget_from_row(row) -> Budget:
    """A ``Budget`` from an ``llm_budgets`` row."""
    return Budget(
        id=row.id,
        name=row.name,
        scope=row.scope,
        scope_key=row.scope_key,
        scope_value=row.scope_value,
        amount_usd=decimal_or_zero(row.amount_usd),
        period=row.period,
        thresholds=_thresholds(row.thresholds),
        hard=bool(row.hard),
    )


def set_budget(
    *,
    name: str,
    amount_usd,
    scope: str = "all",
    period: str = "monthly",
    thresholds=DEFAULT_THRESHOLDS,
    hard: bool = False,
    engine=None,
) -> Budget:
    """Create a budget, or replace the one with the same name.

    Args:
        name: a short unique name, e.g. ``team-monthly``.
        amount_usd: the limit in USD per period.
        scope: ``all``, ``provider:NAME``, ``model:NAME`` or ``tag:KEY=VALUE``.
        period: ``monthly`` (default), ``weekly`` (ISO week) or ``daily``; UTC.
        thresholds: alert thresholds in percent of the amount (default 50, 80, 100).
        hard: True = enforced (``check_budget`` raises, ``pick_provider`` falls back); False = alerts only.
    """
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        raise ValueError(f"name must be a non-empty string of at most 100 characters, got {name!r}")
    if period not in PERIODS:
        raise ValueError(f"period must be one of {', '.join(PERIODS)}; got {period!r}")
    if not isinstance(hard, bool):
        raise ValueError(f"hard must be True or False, got {hard!r}")
    kind, key, value = parse_scope(scope)
    values = dict(
        scope=kind,
        scope_key=key,
        scope_value=value,
        amount_usd=_amount(amount_usd),
        period=period,
        thresholds=_format_thresholds(_thresholds(thresholds)),
        hard=hard,
        updated_at=clock.utc_now(),
    )
    engine = read_engine(engine)
    b = storage.budgets
    with engine.connect() as conn, conn.execution_options(immediate=True).begin():
        existing = conn.execute(select(b.c.id).where(b.c.name == name)).scalar()
        if existing is None:
            conn.execute(b.insert().values(name=name, created_at=values["updated_at"], **values))
        else:
            conn.execute(update(b).where(b.c.id == existing).values(**values))
    return get_budget(name, engine)


def list_budgets(engine=None) -> list[Budget]:
    """Every budget, by name."""
    engine = engine if engine is not None else storage.get_engine()
    with engine.connect() as conn:
        return [budget_from_row(r) for r in conn.execute(select(storage.budgets).order_by(storage.budgets.c.name))]


def get_budget(budget: int | str, engine=None) -> Budget:
    """One budget by id or name; raises ``BudgetNotFound``."""
    for b in list_budgets(engine):
        if b.id == budget or b.name == budget:
            return b
    raise BudgetNotFound(f"no budget with id or name {budget!r}")


def delete_budget(budget: int | str, engine=None) -> bool:
    """Remove a budget (by id or name); True if there was one. Its alert history stays."""
    engine = engine if engine is not None else storage.get_engine()
    b = storage.budgets
    col = b.c.id if isinstance(budget, int) and not isinstance(budget, bool) else b.c.name
    with engine.begin() as conn:
        return bool(conn.execute(delete(b).where(col == budget)).rowcount)


# -- spend from the rollups ---------------------------------------------------------------------


def scope_query(budget: Budget, start: date, end: date, *columns):
    if budget.scope == "tag":
        t = storage.tag_costs_daily
        conds = [t.c.tag_key == budget.scope_key, t.c.tag_value == budget.scope_value]
    else:
        t = storage.costs_daily
        conds = []
        if budget.scope == "provider":
            conds.append(
                t.c.provider_id.in_(
                    select(storage.providers.c.id).where(storage.providers.c.name == budget.scope_value)
                )
            )
        elif budget.scope == "model":
            conds.append(t.c.model == budget.scope_value)
    return t, [t.c.day >= start, t.c.day <= end, *conds]


def daily_spend(budget: Budget, start: date, end: date, engine=None) -> dict[date, Decimal]:
    """Spend of the budget's scope per UTC day (days with spend only), from the rollups."""
    engine = engine if engine is not None else storage.get_engine()
    t, conds = scope_query(budget, start, end)
    with engine.connect() as conn:
        rows = conn.execute(select(t.c.day, func.sum(t.c.cost_usd).label("cost")).where(*conds).group_by(t.c.day))
        return {as_date(r.day): decimal_or_zero(r.cost) for r in rows}


def _unpriced(conn, budget: Budget, start: date, end: date) -> int:
    t, conds = scope_query(budget, start, end)
    return int(conn.execute(select(func.coalesce(func.sum(t.c.unpriced_requests), 0)).where(*conds)).scalar_one())


def _first_data_day(engine) -> date | None:
    with engine.connect() as conn:
        first = conn.execute(select(func.min(storage.costs_daily.c.day))).scalar()
    return None if first is None else as_date(first)


# -- status ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BudgetStatus:
    """A budget in its current period: spend, holds, percent used, thresholds crossed, forecast."""

    budget: Budget
    period_start: date
    period_end: date
    spent: Decimal
    unpriced_requests: int
    forecast: Forecast
    #: the worst-case cost of calls in flight held against it (hard budgets; ``reserve``)
    held: Decimal = ZERO
    #: holds made this period that expired unsettled (their process died)
    expired_holds: int = 0

    @property
    def committed(self) -> Decimal:
        """Spent plus held: what the percent, state and alerts count."""
        return self.spent + self.held

    @property
    def percent(self) -> Decimal:
        return self.committed / self.budget.amount_usd * HUNDRED

    @property
    def exhausted(self) -> bool:
        return self.committed >= self.budget.amount_usd

    @property
    def crossed(self) -> tuple[float, ...]:
        """Thresholds (percent) reached in this period."""
        pct = self.percent
        return tuple(t for t in self.budget.thresholds if pct >= Decimal(str(t)))

    @property
    def period_label(self) -> str:
        return period_label(self.budget.period, self.period_start)

    @property
    def state(self) -> str:
        """``over`` (spent), ``warning`` (a threshold reached or an overrun projected) or ``ok``."""
        if self.exhausted:
            return "over"
        if self.crossed or self.forecast.overrun:
            return "warning"
        return "ok"

    def as_dict(self) -> dict:
        """Plain values for tables and JSON (money as float)."""
        f = self.forecast
        return {
            "name": self.budget.name,
            "scope": self.budget.scope_label,
            "period": self.budget.period,
            "period_label": self.period_label,
            "kind": "hard" if self.budget.hard else "soft",
            "amount_usd": float(self.budget.amount_usd),
            "spent_usd": float(self.spent),
            "held_usd": float(self.held),
            "expired_holds": self.expired_holds,
            "percent": round(float(self.percent), 1),
            "state": self.state,
            "projected_usd": float(f.projected),
            "projected_low_usd": float(f.low),
            "projected_high_usd": float(f.high),
            "run_out_date": f.run_out_date.isoformat() if f.run_out_date else None,
            "thresholds": _format_thresholds(self.budget.thresholds),
            "unpriced_requests": self.unpriced_requests,
        }


def budget_status(budget: Budget, *, now: datetime | None = None, engine=None) -> BudgetStatus:
    """The budget's current period: spend so far (from the rollups), holds and the forecast."""
    engine = read_engine(engine)
    now = clock.naive_utc(now)
    today = now.date()
    start, end = period_bounds(budget.period, today)
    series = daily_spend(budget, min(start, today - timedelta(days=LOOKBACK_DAYS)), min(end, today), engine)
    held, expired = ZERO, 0
    if budget.hard:
        with engine.connect() as conn:
            held = held_by_budget(conn, [budget.id], now).get(budget.id, ZERO)
            expired = expired_holds(conn, budget.id, datetime.combine(start, datetime.min.time()), now)
    fc = forecast(
        series,
        period_start=start,
        period_end=end,
        now=now,
        limit=budget.amount_usd,
        history_start=_first_data_day(engine),
        held=held,
    )
    with engine.connect() as conn:
        unpriced = _unpriced(conn, budget, start, min(end, today))
    return BudgetStatus(
        budget=budget,
        period_start=start,
        period_end=end,
        spent=fc.spent,
        unpriced_requests=unpriced,
        forecast=fc,
        held=held,
        expired_holds=expired,
    )


def statuses(*, now: datetime | None = None, engine=None) -> list[BudgetStatus]:
    """Every budget's current status, by name."""
    engine = read_engine(engine)
    return [budget_status(b, now=now, engine=engine) for b in list_budgets(engine)]


def period_spend(budget: Budget, start: date, end: date, engine=None) -> list[tuple[date, Decimal]]:
    """Spend of each of the budget's periods that overlap ``start``..``end`` (for reports)."""
    engine = engine if engine is not None else storage.get_engine()
    series = daily_spend(budget, start, end, engine)
    result = []
    day = start
    while day <= end:
        p_start, p_end = period_bounds(budget.period, day)
        total = sum((v for d, v in series.items() if max(p_start, start) <= d <= min(p_end, end)), ZERO)
        result.append((p_start, total))
        day = p_end + timedelta(days=1)
    return result


def period_summary(start: date, end: date, engine=None) -> list[dict]:
    """Every budget over the days ``start``..``end``: spend, periods, periods over the limit, the worst period's
    percent (the monthly report's budget table)."""
    engine = engine if engine is not None else storage.get_engine()
    rows = []
    for b in list_budgets(engine):
        periods = period_spend(b, start, end, engine)
        spent = sum((s for _, s in periods), ZERO)
        worst = max((s for _, s in periods), default=ZERO)
        rows.append(
            {
                "name": b.name,
                "scope": b.scope_label,
                "period": b.period,
                "kind": "hard" if b.hard else "soft",
                "amount_usd": b.amount_usd,
                "spent_usd": spent,
                "periods": len(periods),
                "periods_over": sum(1 for _, s in periods if s >= b.amount_usd),
                "max_period_pct": worst / b.amount_usd * 100,
            }
        )
    return rows


def forecast_frame(status: BudgetStatus) -> pd.DataFrame:
    """The forecast's days for a chart: ``date``, ``series`` (``actual`` | ``projected`` | ``limit``),
    ``usd`` (cumulative spend, as float)."""
    rows = []
    for d in status.forecast.days:
        day = pd.Timestamp(d["date"])
        if d["actual"] is not None:
            rows.append({"date": day, "series": "actual", "usd": float(d["actual"])})
        if d["projected"] is not None:
            rows.append({"date": day, "series": "projected", "usd": float(d["projected"])})
        rows.append({"date": day, "series": "limit", "usd": float(status.budget.amount_usd)})
    return pd.DataFrame(rows, columns=["date", "series", "usd"])
