"""A running day compared like with like: deltas over complete days, sparklines and moving averages
that do not dip because today is young, and a change of zero that reads neutral."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import streamlit as st
import time_machine
from streamlit.proto.Metric_pb2 import Metric as MetricProto
from streamlit.testing.v1 import AppTest

from metrics_core import formatting as fmt
from metrics_core import queries, record_request
from metrics_core.queries import Comparison, Window

APP = str(Path(__file__).resolve().parents[1] / "app.py")
NOW = datetime(2026, 12, 4, 2, 33, tzinfo=UTC)  # 02:33: today has barely begun
TODAY = NOW.date()


@pytest.fixture(autouse=True)
def fresh_cache():
    st.cache_data.clear()
    yield
    st.cache_data.clear()


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        (
            Window(date(2026, 11, 28), TODAY),  # last 7 days
            Comparison(
                Window(date(2026, 11, 28), date(2026, 12, 3)), Window(date(2026, 11, 22), date(2026, 11, 27)), TODAY
            ),
        ),
        (Window(TODAY, TODAY), Comparison(None, None, TODAY)),  # today only: nothing complete yet
        (
            Window(date(2026, 11, 1), date(2026, 11, 30)),  # last month: wholly in the past
            Comparison(
                Window(date(2026, 11, 1), date(2026, 11, 30)), Window(date(2026, 10, 2), date(2026, 10, 31)), None
            ),
        ),
    ],
    ids=["last-7", "today", "last-month"],
)
def test_comparison_leaves_the_running_day_out(window, expected):
    assert queries.comparison(window, today=TODAY) == expected


def test_comparison_describes_itself():
    assert queries.comparison(Window(date(2026, 11, 28), TODAY), today=TODAY).describe() == (
        "Deltas compare the window's 6 complete days with the 6 days before; "
        "today is left out of them until it is over."
    )
    assert queries.comparison(Window(TODAY, TODAY), today=TODAY).describe().startswith("No delta yet")


@pytest.mark.parametrize(
    ("current", "previous", "kind", "expected"),
    [
        (1484, 1484, "ms", "0 ms (0.0%)"),
        (97.30, 97.32, "points", "0.0 pp"),
        (100, 100, "count", "0 (0.0%)"),
        (0.5, 0.5, "money", "$0.00 (0.0%)"),
        (110, 100, "count", "+10 (+10.0%)"),
        (90, 100, "ms", "-10 ms (-10.0%)"),
        (1.25, 1.0, "money", "+$0.25 (+25.0%)"),
    ],
)
def test_a_change_of_zero_has_no_sign(current, previous, kind, expected):
    text = fmt.delta(current, previous, kind=kind)
    assert text == expected
    assert fmt.is_change(text) == (current != previous and round(current - previous, 1) != 0)


def steady_traffic(days_back: int = 20, per_day: int = 10) -> None:
    """``per_day`` successful calls at 01:00-01:09 UTC on each of the last ``days_back`` days, one today."""
    for d in range(days_back, 0, -1):
        day = datetime.combine(TODAY - timedelta(days=d), datetime.min.time(), tzinfo=UTC) + timedelta(hours=1)
        for i in range(per_day):
            record_request(
                provider_name="ollama", model="llama3.2", status="success", duration_seconds=1.484,
                timestamp=day + timedelta(minutes=i),
            )  # fmt: skip
    record_request(
        provider_name="ollama", model="llama3.2", status="success", duration_seconds=1.484,
        timestamp=NOW - timedelta(minutes=90), sync=True,
    )  # fmt: skip


def test_moving_average_stops_before_the_running_day(engine):
    with time_machine.travel(NOW, tick=False):
        steady_traffic()
        daily = queries.daily_series(window=Window.last(7))
    assert daily["running"].tolist() == [False] * 6 + [True]
    assert daily["requests"].tolist() == [10] * 6 + [1]
    assert daily["requests_ma"].iloc[:6].tolist() == [10.0] * 6  # flat: no dip at the right edge
    assert daily["requests_ma"].iloc[6] != daily["requests_ma"].iloc[6]  # NaN on the running day


def test_overview_at_0233_compares_complete_days_and_zero_is_neutral(engine):
    with time_machine.travel(NOW, tick=False):
        steady_traffic()
        at = AppTest.from_file(APP, default_timeout=60).run()
        assert not at.exception, at.exception
        at.sidebar.selectbox(key="filter_window").set_value("Last 7 days").run()
        assert not at.exception, at.exception
    metrics = {m.label: m for m in at.metric}
    requests = metrics["Requests"]
    assert requests.value == "61"  # the window's figure includes today
    assert requests.delta == "0 (0.0%)"  # 60 in 6 complete days vs 60 before (was -12.9% against 70)
    assert requests.proto.color == MetricProto.MetricColor.GRAY
    assert metrics["p95 latency"].delta == "0 ms (0.0%)"
    assert metrics["p95 latency"].proto.color == MetricProto.MetricColor.GRAY
    assert list(requests.proto.chart_data) == [10.0] * 6  # the sparkline stops at yesterday
    captions = " ".join(c.value for c in at.caption)
    assert "Deltas compare the window's 6 complete days with the 6 days before" in captions


def test_today_at_0233_has_no_red_delta(engine):
    with time_machine.travel(NOW, tick=False):
        steady_traffic()
        at = AppTest.from_file(APP, default_timeout=60).run()
        at.sidebar.selectbox(key="filter_window").set_value("Today").run()
        assert not at.exception, at.exception
    requests = next(m for m in at.metric if m.label == "Requests")
    assert (requests.value, requests.delta) == ("1", "")  # was -90.0% in red against a whole day
    assert any(c.value.startswith("No delta yet: the window is only today") for c in at.caption)
