"""The guide's SQL reset (``UPDATE llm_provider_health SET circuit_state='closed' ...``) is recorded as
a transition on the next write, and ``opened_at`` is cleared, so history and availability stay right."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select, text

from metrics_core import queries, record_request, storage
from metrics_core.queries import Window

SQL_RESET = "UPDATE llm_provider_health SET circuit_state = 'closed', failure_count = 0 WHERE provider_id = 1"
REASON = "closed outside metrics_core (SQL reset)"


@pytest.fixture(autouse=True)
def midday():
    """The expectations count open minutes within today: keep the half hour before now inside it."""
    with time_machine.travel(datetime(2026, 11, 18, 12, 0, tzinfo=UTC), tick=True):
        yield


def fail_ollama(at: datetime, n: int = 5) -> None:
    for i in range(n):
        record_request(
            provider_name="ollama", model="m", status="failed", timestamp=at + timedelta(seconds=i), sync=True
        )


def opened_at(engine):
    with engine.connect() as conn:
        h = storage.provider_health
        return conn.execute(select(h.c.opened_at).where(h.c.provider_id == 1)).scalar_one()


def test_a_success_after_the_sql_reset_records_the_close(engine):
    now = datetime.now(UTC)
    fail_ollama(now - timedelta(minutes=30))
    with engine.begin() as conn:
        conn.execute(text(SQL_RESET))
    assert opened_at(engine) is not None  # what the guide's statement leaves behind
    call = now - timedelta(minutes=10)
    record_request(provider_name="ollama", model="m", status="success", timestamp=call, sync=True)
    events = queries.circuit_events()
    assert events[["from_state", "to_state", "reason"]].values.tolist() == [
        ["closed", "open", "5 consecutive failures"],
        ["open", "closed", REASON],
    ]
    assert events["at"].iloc[1] == call.replace(tzinfo=None)  # closed before the first call that came after
    assert opened_at(engine) is None
    # 20 minutes open (from the fifth failure to the close) out of the day so far
    open_minutes = queries.availability(window=Window.last(1)).set_index("provider").loc["ollama", "open_minutes"]
    assert abs(open_minutes - (20 - 4 / 60)) < 0.05


def test_a_failure_after_the_sql_reset_counts_from_a_closed_circuit(engine):
    now = datetime.now(UTC)
    fail_ollama(now - timedelta(minutes=30))
    with engine.begin() as conn:
        conn.execute(text(SQL_RESET))
    record_request(provider_name="ollama", model="m", status="failed", timestamp=now - timedelta(minutes=5), sync=True)
    p = queries.get_provider("ollama")
    assert (p["circuit_state"], p["failure_count"]) == ("closed", 1)
    assert queries.circuit_events()["reason"].tolist() == ["5 consecutive failures", REASON]
    assert opened_at(engine) is None


def test_a_circuit_closed_by_metrics_core_is_not_recorded_twice(engine):
    now = datetime.now(UTC)
    fail_ollama(now - timedelta(minutes=30))
    queries.get_provider("ollama")
    from metrics_core import reset_circuit

    reset_circuit("ollama")
    record_request(provider_name="ollama", model="m", status="success", timestamp=now, sync=True)
    assert queries.circuit_events()["reason"].tolist() == ["5 consecutive failures", "manual reset"]
