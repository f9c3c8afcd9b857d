"""The demo shows the product inside the default 30-day window: an outage with real circuit
transitions, a cost spike, two budgets (one near its limit), tags, and real-shaped error texts."""

from datetime import UTC, datetime, timedelta

import pytest

from metrics_core import budgets, demo, queries
from metrics_core.queries import Window

NOW = datetime(2026, 11, 29, 18, 0, tzinfo=UTC)


@pytest.fixture
def loaded(engine):
    demo.load(engine, days=90, per_day=150, now=NOW)
    return engine


def test_outage_nine_days_ago_opens_probes_and_closes_the_circuit(loaded):
    events = queries.circuit_events()
    events = events[events["provider"] == "openai"]
    day = (NOW - timedelta(days=9)).date()
    assert {e.date() for e in events["at"]} == {day}  # inside the default 30-day window
    steps = list(zip(events["from_state"], events["to_state"], strict=True))
    assert steps[0] == ("closed", "open")
    assert ("half_open", "open") in steps  # half-open probes that fail
    assert steps[-1] == ("half_open", "closed")
    assert events["at"].min().hour == 10 and events["at"].max().hour == 14  # about four hours, 10:00-14:10 UTC
    assert events["at"].max().minute < 10
    availability = queries.availability(window=Window(day, day), now=NOW).set_index("provider")
    assert 75 < availability.loc["openai", "availability_pct"] < 90  # about four hours of 24 open
    assert availability.loc["ollama", "availability_pct"] == 100


def test_a_cost_spike_four_days_ago(loaded):
    daily = queries.daily_series(window=Window((NOW - timedelta(days=29)).date(), NOW.date()))
    by_day = daily.set_index(daily["date"].dt.date)["cost_usd"]
    spike = by_day[(NOW - timedelta(days=4)).date()]
    others = by_day.drop((NOW - timedelta(days=4)).date())
    assert spike > 3 * others.median()
    assert spike == by_day.max()


def test_error_texts_are_the_sdks_own(loaded):
    log = queries.request_log(limit=100_000)
    errors = log.loc[log["status"] != "success"]
    ollama = set(errors.loc[errors["provider"] == "ollama", "error_message"])
    assert "httpx.ReadTimeout: timed out (POST http://localhost:11434/api/chat)" in ollama
    assert not any("example.com" in e for e in log["error_message"].dropna())
    assert errors["error_message"].notna().all()
    tags = queries.tag_values(window=Window.last(30, today=NOW.date()))
    assert set(tags["tag_key"]) == {"project", "feature", "user"}


def test_two_budgets_one_near_its_limit(engine):
    import time_machine

    with time_machine.travel(NOW, tick=False):
        demo.load(engine, days=30, per_day=150)
        assert demo.add_budgets(engine) == ["monthly-total", "search-weekly"]
        statuses = {s.budget.name: s.as_dict() for s in budgets.statuses()}
    assert statuses["monthly-total"]["scope"] == "all"
    assert 87.5 <= statuses["monthly-total"]["percent"] <= 88.5
    assert statuses["search-weekly"]["scope"] == "tag:project=search"
    assert statuses["search-weekly"]["percent"] < 40
