"""Budgets: limits on spend per scope and period, their status, a forecast, and enforcement.

A budget has a *scope* (everything, one provider, one model, or one tag such as
``project=search``), an amount in USD, a *period* (``monthly`` by default, ``weekly`` = ISO week
from Monday, ``daily``; UTC days), alert thresholds in percent (default 50, 80, 100) and is *soft*
(alerts only) or *hard* (``check_budget`` raises ``BudgetExceeded`` and ``pick_provider`` skips the
remote providers it covers, so traffic falls back to local models).

Spend comes from the daily rollups (``llm_costs_daily``, ``llm_tag_costs_daily``), never from raw
rows. Unpriced calls have no cost and are not in the spend (the status counts them).

Forecast (``forecast``): projected spend at the end of the period = spend so far + the expected
spend of the rest of the period, at the run-rate of the last 28 complete UTC days:

* weekday-aware: with at least 14 complete days of history, the expected spend of a day is the
  mean of the same weekday in that history (so quiet weekends stay quiet); with fewer, the mean of
  the days there are; with none, today's spend so far divided by the part of today gone (at least
  an hour);
* the rest of today counts its remaining fraction of a day;
* range: the expected rest of the period scaled by the lowest and the highest of the last four
  7-day totals, each divided by their mean (week-to-week swings; a flat history gives a point);
  with fewer than two whole weeks, by the lowest and highest single day against the mean;
* run-out date: the first day on which spend so far plus the expected daily spend reaches the
  limit (a day in the past when it is already spent); None when the period ends first.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation

import pandas as pd
from sqlalchemy import delete, func, select, update

from . import db
from .errors import BudgetExceeded, MetricsError
from .queries import _as_date, _engine, _money

ZERO = Decimal(0)
HUNDRED = Decimal(100)
PERIODS = ("monthly", "weekly", "daily")
SCOPES = ("all", "provider", "model", "tag")
DEFAULT_THRESHOLDS = (50, 80, 100)
LOOKBACK_DAYS = 28
WEEKDAY_MIN_DAYS = 14


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
            return provider == self.scope_value
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


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _utc_naive(now: datetime | None) -> datetime:
    if now is None:
        return _now()
    return now.astimezone(UTC).replace(tzinfo=None) if now.tzinfo else now


# -- storage ------------------------------------------------------------------------------------


def _budget(row) -> Budget:
    return Budget(
        id=row.id,
        name=row.name,
        scope=row.scope,
        scope_key=row.scope_key,
        scope_value=row.scope_value,
        amount_usd=_money(row.amount_usd),
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
        updated_at=_now(),
    )
    engine = _engine(engine)
    b = db.budgets
    with engine.connect() as conn, conn.execution_options(immediate=True).begin():
        existing = conn.execute(select(b.c.id).where(b.c.name == name)).scalar()
        if existing is None:
            conn.execute(b.insert().values(name=name, created_at=values["updated_at"], **values))
        else:
            conn.execute(update(b).where(b.c.id == existing).values(**values))
    return get_budget(name, engine)


def list_budgets(engine=None) -> list[Budget]:
    """Every budget, by name."""
    engine = engine if engine is not None else db.get_engine()
    with engine.connect() as conn:
        return [_budget(r) for r in conn.execute(select(db.budgets).order_by(db.budgets.c.name))]


def get_budget(budget: int | str, engine=None) -> Budget:
    """One budget by id or name; raises ``BudgetNotFound``."""
    for b in list_budgets(engine):
        if b.id == budget or b.name == budget:
            return b
    raise BudgetNotFound(f"no budget with id or name {budget!r}")


def delete_budget(budget: int | str, engine=None) -> bool:
    """Remove a budget (by id or name); True if there was one. Its alert history stays."""
    engine = engine if engine is not None else db.get_engine()
    b = db.budgets
    col = b.c.id if isinstance(budget, int) and not isinstance(budget, bool) else b.c.name
    with engine.begin() as conn:
        return bool(conn.execute(delete(b).where(col == budget)).rowcount)


# -- spend from the rollups ---------------------------------------------------------------------


def _scope_query(budget: Budget, start: date, end: date, *columns):
    if budget.scope == "tag":
        t = db.tag_costs_daily
        conds = [t.c.tag_key == budget.scope_key, t.c.tag_value == budget.scope_value]
    else:
        t = db.costs_daily
        conds = []
        if budget.scope == "provider":
            conds.append(
                t.c.provider_id.in_(select(db.providers.c.id).where(db.providers.c.name == budget.scope_value))
            )
        elif budget.scope == "model":
            conds.append(t.c.model == budget.scope_value)
    return t, [t.c.day >= start, t.c.day <= end, *conds]


def daily_spend(budget: Budget, start: date, end: date, engine=None) -> dict[date, Decimal]:
    """Spend of the budget's scope per UTC day (days with spend only), from the rollups."""
    engine = engine if engine is not None else db.get_engine()
    t, conds = _scope_query(budget, start, end)
    with engine.connect() as conn:
        rows = conn.execute(select(t.c.day, func.sum(t.c.cost_usd).label("cost")).where(*conds).group_by(t.c.day))
        return {_as_date(r.day): _money(r.cost) for r in rows}


def _unpriced(conn, budget: Budget, start: date, end: date) -> int:
    t, conds = _scope_query(budget, start, end)
    return int(conn.execute(select(func.coalesce(func.sum(t.c.unpriced_requests), 0)).where(*conds)).scalar_one())


def _first_data_day(engine) -> date | None:
    with engine.connect() as conn:
        first = conn.execute(select(func.min(db.costs_daily.c.day))).scalar()
    return None if first is None else _as_date(first)


# -- forecast -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Forecast:
    """Projected spend at the end of a period, with a range and the run-out date."""

    spent: Decimal
    projected: Decimal
    low: Decimal
    high: Decimal
    limit: Decimal | None
    run_out_date: date | None
    method: str
    #: per day of the period: ``date``, ``actual`` (cumulative spend, None after today) and
    #: ``projected`` (cumulative expected spend, from today on)
    days: list[dict] = field(default_factory=list)

    @property
    def overrun(self) -> bool:
        return self.limit is not None and self.projected > self.limit


def _mean(values: list[Decimal]) -> Decimal:
    return sum(values, ZERO) / len(values) if values else ZERO


def forecast(
    daily: Mapping[date, Decimal],
    *,
    period_start: date,
    period_end: date,
    now: datetime,
    limit: Decimal | None = None,
    history_start: date | None = None,
    lookback_days: int = LOOKBACK_DAYS,
) -> Forecast:
    """Project a period's spend from a daily series (see the module docstring for the method).

    Args:
        daily: spend per UTC day (missing days are 0), covering the lookback and the period so far.
        period_start, period_end: the period's first and last day.
        now: the current time (UTC); today's spend so far is part of ``daily``.
        limit: the budget, for the run-out date.
        history_start: the first day for which data exists (earlier days are unknown, not 0).
    """
    now = _utc_naive(now)
    today = now.date()
    spend = {d: _money(v) for d, v in daily.items()}
    elapsed = Decimal((now - datetime(today.year, today.month, today.day)).total_seconds()) / Decimal(86400)
    rest_of_today = 1 - elapsed
    first_hist = today - timedelta(days=lookback_days)
    if history_start is not None:
        first_hist = max(first_hist, history_start)
    history = [first_hist + timedelta(days=i) for i in range((today - first_hist).days)]
    values = [spend.get(d, ZERO) for d in history]

    if len(history) >= WEEKDAY_MIN_DAYS:
        by_weekday = {
            wd: _mean([v for d, v in zip(history, values, strict=True) if d.weekday() == wd]) for wd in range(7)
        }
        method = f"weekday-aware mean of the last {len(history)} complete days"

        def rate(d: date) -> Decimal:
            return by_weekday[d.weekday()]
    else:
        if history:
            flat = _mean(values)
            method = f"mean of the last {len(history)} complete day(s)"
        else:
            flat = spend.get(today, ZERO) / max(elapsed, Decimal(1) / 24)
            method = "today's spend so far, extrapolated"

        def rate(d: date) -> Decimal:
            return flat

    # range factors: week-to-week swings (or day-to-day with under two whole weeks)
    weeks = [
        sum(values[len(values) - 7 * (k + 1) : len(values) - 7 * k], ZERO)
        for k in range(4)
        if 7 * (k + 1) <= len(values)
    ]
    spread = weeks if len(weeks) >= 2 else values
    mean_spread = _mean(spread)
    if len(spread) >= 2 and mean_spread > 0:
        low_f, high_f = min(spread) / mean_spread, max(spread) / mean_spread
    else:
        low_f = high_f = Decimal(1)

    spent = sum(
        (
            spend.get(period_start + timedelta(days=i), ZERO)
            for i in range((min(today, period_end) - period_start).days + 1)
        ),
        ZERO,
    )
    expected: dict[date, Decimal] = {}
    if today <= period_end:
        expected[today] = rate(today) * rest_of_today
        d = today + timedelta(days=1)
        while d <= period_end:
            expected[d] = rate(d)
            d += timedelta(days=1)
    remaining = sum(expected.values(), ZERO)

    days, cumulative, run_out = [], ZERO, None
    d = period_start
    while d <= period_end:
        if d <= today:
            cumulative += spend.get(d, ZERO)
        actual = cumulative if d <= today else None
        if d in expected:
            cumulative += expected[d]
        projected = cumulative if d >= today else None
        if run_out is None and limit is not None and cumulative >= limit:
            run_out = d
        days.append({"date": d, "actual": actual, "projected": projected})
        d += timedelta(days=1)
    return Forecast(
        spent=spent,
        projected=spent + remaining,
        low=spent + remaining * low_f,
        high=spent + remaining * high_f,
        limit=limit,
        run_out_date=run_out,
        method=method,
        days=days,
    )


# -- status ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BudgetStatus:
    """A budget in its current period: spend, percent used, thresholds crossed, forecast."""

    budget: Budget
    period_start: date
    period_end: date
    spent: Decimal
    unpriced_requests: int
    forecast: Forecast

    @property
    def percent(self) -> Decimal:
        return self.spent / self.budget.amount_usd * HUNDRED

    @property
    def exhausted(self) -> bool:
        return self.spent >= self.budget.amount_usd

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
    """The budget's current period: spend so far (from the rollups) and the forecast."""
    engine = _engine(engine)
    now = _utc_naive(now)
    today = now.date()
    start, end = period_bounds(budget.period, today)
    series = daily_spend(budget, min(start, today - timedelta(days=LOOKBACK_DAYS)), min(end, today), engine)
    fc = forecast(
        series,
        period_start=start,
        period_end=end,
        now=now,
        limit=budget.amount_usd,
        history_start=_first_data_day(engine),
    )
    with engine.connect() as conn:
        unpriced = _unpriced(conn, budget, start, min(end, today))
    return BudgetStatus(
        budget=budget, period_start=start, period_end=end, spent=fc.spent, unpriced_requests=unpriced, forecast=fc
    )


def statuses(*, now: datetime | None = None, engine=None) -> list[BudgetStatus]:
    """Every budget's current status, by name."""
    engine = _engine(engine)
    return [budget_status(b, now=now, engine=engine) for b in list_budgets(engine)]


def period_spend(budget: Budget, start: date, end: date, engine=None) -> list[tuple[date, Decimal]]:
    """Spend of each of the budget's periods that overlap ``start``..``end`` (for reports)."""
    engine = engine if engine is not None else db.get_engine()
    series = daily_spend(budget, start, end, engine)
    result = []
    day = start
    while day <= end:
        p_start, p_end = period_bounds(budget.period, day)
        total = sum((v for d, v in series.items() if max(p_start, start) <= d <= min(p_end, end)), ZERO)
        result.append((p_start, total))
        day = p_end + timedelta(days=1)
    return result


# -- enforcement ----------------------------------------------------------------------------------


def _spent_now(budget: Budget, engine, today: date) -> Decimal:
    start, end = period_bounds(budget.period, today)
    t, conds = _scope_query(budget, start, min(end, today))
    with engine.connect() as conn:
        return _money(conn.execute(select(func.sum(t.c.cost_usd)).where(*conds)).scalar())


def _hard_budgets(engine) -> list[Budget]:
    with engine.connect() as conn:
        rows = conn.execute(select(db.budgets).where(db.budgets.c.hard.is_(True)).order_by(db.budgets.c.name)).all()
    return [_budget(r) for r in rows]


def check_budget(
    *,
    provider: str | None = None,
    model: str | None = None,
    tags: Mapping[str, str] | None = None,
    now: datetime | None = None,
    engine=None,
) -> None:
    """Raise ``BudgetExceeded`` if a hard budget covering this call is spent; else return None.

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
    engine = _engine(engine)
    if provider is not None and provider in _local_providers(engine):
        return
    today = _utc_naive(now).date()
    for budget in _hard_budgets(engine):
        if not budget.applies_to(provider=provider, model=model, tags=tags):
            continue
        spent = _spent_now(budget, engine, today)
        if spent >= budget.amount_usd:
            raise BudgetExceeded(
                budget.name,
                spent,
                budget.amount_usd,
                period_label(budget.period, period_bounds(budget.period, today)[0]),
            )


def _local_providers(engine) -> set[str]:
    p = db.providers
    with engine.connect() as conn:
        return set(conn.execute(select(p.c.name).where(p.c.provider_type == "local")).scalars())


def blocked_providers(*, tags: Mapping[str, str] | None = None, now: datetime | None = None, engine=None) -> set[str]:
    """Remote providers whose traffic a spent hard budget stops (``all``, provider, or matching tag
    scope); ``pick_provider`` skips them. Model budgets block in ``check_budget`` only."""
    engine = engine if engine is not None else db.get_engine()
    hard = [
        b
        for b in _hard_budgets(engine)
        if b.scope in ("all", "provider") or (b.scope == "tag" and b.applies_to(tags=tags))
    ]
    if not hard:
        return set()
    today = _utc_naive(now).date()
    spent = [b for b in hard if _spent_now(b, engine, today) >= b.amount_usd]
    if not spent:
        return set()
    p = db.providers
    with engine.connect() as conn:
        remote = set(conn.execute(select(p.c.name).where(p.c.provider_type != "local")).scalars())
    if any(b.scope != "provider" for b in spent):
        return remote
    return remote & {b.scope_value for b in spent}


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
