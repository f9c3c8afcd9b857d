"""Availability has one definition (``queries.availability``): unavailable from the moment a circuit
opens until a call succeeds again; half-open probes that fail keep the outage going; no calls at all
after an opening leave it unavailable. Reads never write the circuit state."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from metrics_core import demo, queries, record_request, storage
from metrics_core.queries import Window

NOW = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)  # a Wednesday noon; every expectation below counts from it


def at(days_ago: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return NOW.replace(hour=hour, minute=minute, second=second) - timedelta(days=days_ago)


def rec(status: str, when: datetime, provider: str = "openai") -> None:
    record_request(provider_name=provider, model="gpt-4o", status=status, timestamp=when, sync=True)


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


def by_day(frame, provider="openai"):
    rows = frame[frame["provider"] == provider]
    return rows.set_index(rows["date"].dt.date)


def test_an_outage_lasts_from_the_opening_to_the_first_success(monkeypatch):
    monkeypatch.setenv("LLM_METRICS_CIRCUIT_COOLDOWN", "600")
    for i in range(5):  # the fifth failure, yesterday at 10:00:04, opens the circuit
        rec("failed", at(1, 10, 0, i))
    rec("success", at(1, 10, 30))  # half-open since 10:10:04; this success closes it
    daily = by_day(queries.daily_availability(window=Window.last(2)))
    outage = 30 * 60 - 4  # 10:00:04 -> 10:30:00
    assert daily.loc[at(1, 0).date(), "open_minutes"] == round(outage / 60, 1) == 29.9
    assert daily.loc[at(1, 0).date(), "availability_pct"] == round(100 * (1 - outage / 86400), 3) == 97.921
    assert daily.loc[at(1, 0).date(), "transitions"] == 3  # open, half_open, closed
    assert daily.loc[NOW.date(), "availability_pct"] == 100.0
    others = queries.daily_availability(window=Window.last(2))
    assert (others[others["provider"] != "openai"]["availability_pct"] == 100.0).all()


def test_calls_failing_for_two_hours_through_half_open_probes_read_as_two_hours_down():
    # cooldown 60 s (default); a call every 30 s fails from 08:00 to 09:59:30, the 10:00 call succeeds
    start = at(0, 8)
    for i in range(240):
        rec("timeout", start + timedelta(seconds=30 * i))
    rec("success", at(0, 10))
    outage = 2 * 3600 - 120  # opened by the fifth failure at 08:02:00, closed at 10:00:00
    window = queries.availability(window=Window.last(1)).set_index("provider")
    assert window.loc["openai", "open_minutes"] == 118.0
    assert window.loc["openai", "openings"] == 1  # the failed probes re-open the same outage
    # the window is today up to noon: 12 hours
    assert window.loc["openai", "availability_pct"] == round(100 * (1 - outage / (12 * 3600)), 3) == 83.611
    daily = by_day(queries.daily_availability(window=Window.last(1)))
    assert daily.loc[NOW.date(), "availability_pct"] == window.loc["openai", "availability_pct"]


def test_an_open_circuit_with_no_calls_stays_unavailable_until_now():
    for i in range(5):  # opens two days ago at 18:00:04; nobody calls it again
        rec("timeout", at(2, 18, 0, i))
    daily = by_day(queries.daily_availability(window=Window.last(3), providers=["openai"]))
    assert daily["open_minutes"].tolist() == [round((6 * 3600 - 4) / 60, 1), 1440.0, 720.0]
    assert daily["availability_pct"].tolist() == [round(100 * (1 - (6 * 3600 - 4) / 86400), 3), 0.0, 0.0]


def test_reading_after_a_cooldown_derives_half_open_and_writes_nothing():
    for i in range(5):
        rec("failed", at(0, 11, 0, i))  # open at 11:00:04; the 60 s cooldown is long over at noon
    engine = storage.get_engine()

    def snapshot():
        with engine.connect() as conn:
            events = conn.execute(select(func.count()).select_from(storage.circuit_events)).scalar_one()
            health = conn.execute(select(storage.provider_health).order_by(storage.provider_health.c.provider_id))
            return events, [tuple(r) for r in health]

    before = snapshot()
    openai = queries.get_provider("openai")
    assert (openai["circuit_state"], openai["is_available"]) == ("half_open", True)
    queries.health_summary()
    queries.availability(window=Window.last(1))
    assert snapshot() == before


def test_demo_data_has_an_outage_the_availability_sees(engine):
    demo.load(engine, days=30, per_day=400, seed=3)  # a four-hour OpenAI outage nine days before the last day
    daily = by_day(queries.daily_availability(window=Window.last(30)))
    outage_day = NOW.date() - timedelta(days=9)
    assert 100 - 100 * 4 / 24 - 1 <= daily.loc[outage_day, "availability_pct"] < 100
    assert daily.loc[outage_day, "transitions"] >= 3  # opened, half-open probes failing, closed
    assert (daily.drop(index=outage_day)["availability_pct"] == 100.0).all()
