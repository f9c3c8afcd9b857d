"""Forecast of a budget period's spend on synthetic daily series with known answers."""

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from metrics_core.budgets import forecast, period_bounds, period_label

D = Decimal
NOV_START, NOV_END = date(2026, 11, 1), date(2026, 11, 30)


def series(first: date, last: date, amount) -> dict:
    """``amount(day)`` (or a constant) for every day first..last."""
    out, d = {}, first
    while d <= last:
        out[d] = D(str(amount(d) if callable(amount) else amount))
        d += timedelta(days=1)
    return out


def test_constant_run_rate_projects_exactly_with_a_point_range():
    # $10 every day since October; it is the very start of Nov 10: Nov 1-9 spent $90
    daily = series(date(2026, 10, 1), date(2026, 11, 9), 10)
    f = forecast(daily, period_start=NOV_START, period_end=NOV_END, now=datetime(2026, 11, 10), limit=D(250))
    assert f.spent == D(90)
    assert f.projected == D(300)  # 90 + 21 remaining days x 10
    assert f.low == f.high == D(300)
    assert f.run_out_date == date(2026, 11, 25)  # 90 + 16 x 10 = 250
    assert f.overrun
    assert f.method.startswith("weekday-aware")


def test_partial_day_counts_its_remaining_fraction():
    daily = series(date(2026, 10, 1), date(2026, 11, 9), 10)
    daily[date(2026, 11, 10)] = D(5)  # half of the day gone, half of its usual spend made
    f = forecast(daily, period_start=NOV_START, period_end=NOV_END, now=datetime(2026, 11, 10, 12), limit=D(1000))
    assert f.spent == D(95)
    assert f.projected == D(300)  # 95 + 0.5 x 10 + 20 x 10
    assert f.run_out_date is None
    assert not f.overrun


def test_weekday_aware_rate_keeps_quiet_weekends_quiet():
    # $10 on weekdays, $0 at weekends, for four weeks before Monday 2026-11-09 (midnight)
    daily = series(date(2026, 10, 12), date(2026, 11, 8), lambda d: 10 if d.weekday() < 5 else 0)
    f = forecast(daily, period_start=NOV_START, period_end=NOV_END, now=datetime(2026, 11, 9))
    weekdays_left = sum(1 for i in range(22) if (date(2026, 11, 9) + timedelta(days=i)).weekday() < 5)
    assert weekdays_left == 16
    assert f.spent == D(50)  # Nov 2-6
    assert f.projected == D(50) + D(10) * weekdays_left
    assert f.low == f.high == f.projected  # every week the same


def test_range_spans_the_slowest_and_fastest_recent_week():
    # four weeks of $7, $14, $21, $28 per week (oldest first): mean $17.5 a week, flat within each week
    start = date(2026, 10, 12)
    weekly = [1, 2, 3, 4]
    daily = series(start, start + timedelta(days=27), lambda d: weekly[(d - start).days // 7])
    now = datetime(2026, 11, 9)
    f = forecast(daily, period_start=NOV_START, period_end=NOV_END, now=now)
    # weekday-aware rate: each weekday's mean over the four weeks = $2.5 a day; 22 days left
    remaining = D("2.5") * 22
    assert f.projected == f.spent + remaining
    assert f.low == f.spent + remaining * D(7) / D("17.5")
    assert f.high == f.spent + remaining * D(28) / D("17.5")


def test_already_spent_budget_reports_the_day_it_ran_out():
    daily = series(date(2026, 11, 1), date(2026, 11, 9), 30)
    f = forecast(
        daily,
        period_start=NOV_START,
        period_end=NOV_END,
        now=datetime(2026, 11, 10),
        limit=D(100),
        history_start=date(2026, 11, 1),
    )
    assert f.spent == D(270)
    assert f.run_out_date == date(2026, 11, 4)  # 30 x 4 = 120 >= 100


def test_short_history_uses_the_mean_of_the_days_there_are():
    daily = {date(2026, 11, 7): D(4), date(2026, 11, 8): D(8)}  # the database started on Nov 7
    f = forecast(
        daily, period_start=NOV_START, period_end=NOV_END, now=datetime(2026, 11, 9), history_start=date(2026, 11, 7)
    )
    assert f.method == "mean of the last 2 complete day(s)"
    assert f.projected == D(12) + D(6) * 22
    assert f.low == D(12) + D(4) * 22  # slowest day against the mean: 4/6
    assert f.high == D(12) + D(8) * 22


def test_no_history_extrapolates_today():
    daily = {date(2026, 11, 30): D(3)}
    f = forecast(
        daily,
        period_start=date(2026, 11, 30),
        period_end=date(2026, 11, 30),
        now=datetime(2026, 11, 30, 6),
        history_start=date(2026, 11, 30),
        limit=D(10),
    )
    assert f.method == "today's spend so far, extrapolated"
    assert f.projected == D(12)  # $3 in a quarter of the day
    assert f.run_out_date == date(2026, 11, 30)


def test_chart_rows_join_actual_and_projected_at_today():
    daily = series(date(2026, 10, 1), date(2026, 11, 9), 10)
    f = forecast(daily, period_start=NOV_START, period_end=NOV_END, now=datetime(2026, 11, 10))
    rows = {r["date"]: r for r in f.days}
    assert len(rows) == 30
    assert rows[date(2026, 11, 9)] == {"date": date(2026, 11, 9), "actual": D(90), "projected": None}
    assert rows[date(2026, 11, 10)]["actual"] == D(90) and rows[date(2026, 11, 10)]["projected"] == D(100)
    assert rows[NOV_END]["projected"] == D(300) and rows[NOV_END]["actual"] is None


@pytest.mark.parametrize(
    ("period", "day", "bounds", "label"),
    [
        ("monthly", date(2026, 2, 14), (date(2026, 2, 1), date(2026, 2, 28)), "2026-02"),
        ("weekly", date(2026, 11, 29), (date(2026, 11, 23), date(2026, 11, 29)), "2026-W48"),
        ("daily", date(2026, 11, 29), (date(2026, 11, 29), date(2026, 11, 29)), "2026-11-29"),
    ],
    ids=["monthly", "weekly-sunday", "daily"],
)
def test_periods(period, day, bounds, label):
    assert period_bounds(period, day) == bounds
    assert period_label(period, bounds[0]) == label
