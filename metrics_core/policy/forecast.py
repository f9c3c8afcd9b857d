"""Forecast: projected spend at the end of a budget period.

Projected spend at the end of the period = spend so far + the expected
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
  limit (a day in the past when it is already spent); None when the period ends first;
* what calls in flight hold against a hard budget (``held``) counts as spent today.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from .. import clock
from ..money import ZERO, decimal_or_zero

LOOKBACK_DAYS = 28
WEEKDAY_MIN_DAYS = 14


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
    #: per day of the period: ``date``, ``actual`` (cumulative spend, holds included today; None after
    #: today) and ``projected`` (cumulative expected spend, from today on)
    days: list[dict] = field(default_factory=list)
    #: held by calls in flight (hard budgets), part of ``projected``, ``low`` and ``high``
    held: Decimal = ZERO

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
    held: Decimal = ZERO,
) -> Forecast:
    """Project a period's spend from a daily series (see the module docstring for the method).

    Args:
        daily: spend per UTC day (missing days are 0), covering the lookback and the period so far.
        period_start, period_end: the period's first and last day.
        now: the current time (UTC); today's spend so far is part of ``daily``.
        limit: the budget, for the run-out date.
        history_start: the first day for which data exists (earlier days are unknown, not 0).
        held: what calls in flight hold against the budget (counted as spent today).
    """
    now = clock.naive_utc(now)
    today = now.date()
    spend = {d: decimal_or_zero(v) for d, v in daily.items()}
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
            cumulative += spend.get(d, ZERO) + (held if d == today else ZERO)
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
        projected=spent + held + remaining,
        low=spent + held + remaining * low_f,
        high=spent + held + remaining * high_f,
        limit=limit,
        run_out_date=run_out,
        method=method,
        days=days,
        held=held,
    )
