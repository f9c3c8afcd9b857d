"""The circuit breaker: closed -> open -> half_open -> closed/open, kept in the database."""

from datetime import datetime, timedelta

import pytest
from sqlalchemy import text

from metrics_core import pick_provider, queries, record_request, reset_circuit
from metrics_core.policy import providers
from metrics_core.recording.circuit_breaker import CLOSED, HALF_OPEN, OPEN, Circuit, observe

T0 = datetime(2026, 11, 1, 12, 0, 0)


def run(statuses, start=T0, step=timedelta(seconds=1), threshold=5, cooldown=60.0, circuit=None):
    circuit = circuit or Circuit()
    events = []
    at = start
    for status in statuses:
        circuit, new = observe(circuit, status, at, threshold=threshold, cooldown=cooldown)
        events += new
        at += step
    return circuit, events


def test_five_consecutive_failures_open_the_circuit():
    circuit, events = run(["failed"] * 4)
    assert (circuit.state, circuit.failure_count, events) == (CLOSED, 4, [])
    circuit, events = run(["failed", "timeout", "rate_limited", "failed", "failed"])
    assert (circuit.state, circuit.failure_count, circuit.opened_at) == (OPEN, 5, T0 + timedelta(seconds=4))
    assert [(e.from_state, e.to_state, e.reason) for e in events] == [(CLOSED, OPEN, "5 consecutive failures")]


def test_a_success_resets_the_count_and_cancelled_counts_neither_way():
    circuit, _ = run(["failed"] * 4 + ["success"] + ["failed"] * 4)
    assert (circuit.state, circuit.failure_count) == (CLOSED, 4)
    circuit, _ = run(["failed"] * 4 + ["cancelled"] + ["failed"])
    assert circuit.state == OPEN


def test_cooldown_then_half_open_then_success_closes():
    opened, _ = run(["failed"] * 5)
    # within the cooldown, outcomes do not move an open circuit
    still, events = run(["success"], start=opened.opened_at + timedelta(seconds=30), circuit=opened)
    assert (still.state, events) == (OPEN, [])
    closed, events = run(["success"], start=opened.opened_at + timedelta(seconds=61), circuit=opened)
    assert closed.state == CLOSED and closed.failure_count == 0
    assert [(e.from_state, e.to_state) for e in events] == [(OPEN, HALF_OPEN), (HALF_OPEN, CLOSED)]
    assert events[0].at == opened.opened_at + timedelta(seconds=60)


def test_failure_while_half_open_opens_again():
    opened, _ = run(["failed"] * 5)
    reopened, events = run(["timeout"], start=opened.opened_at + timedelta(seconds=90), circuit=opened)
    assert reopened.state == OPEN and reopened.opened_at == opened.opened_at + timedelta(seconds=90)
    assert [(e.from_state, e.to_state) for e in events] == [(OPEN, HALF_OPEN), (HALF_OPEN, OPEN)]


def fail(provider, n, at):
    for i in range(n):
        record_request(
            provider_name=provider,
            model="m",
            status="failed",
            error_message="boom",
            timestamp=at + timedelta(seconds=i),
        )


def test_circuit_state_lives_in_the_database_and_routes_traffic(now):
    assert pick_provider()["name"] == "ollama"
    fail("ollama", 5, now - timedelta(seconds=10))
    ollama = queries.get_provider("ollama")
    assert (ollama["circuit_state"], ollama["is_available"], ollama["failure_count"]) == (OPEN, False, 5)
    assert pick_provider()["name"] == "localai"  # falls back to the next priority
    assert pick_provider(provider_type="remote")["name"] == "claude"
    events = queries.circuit_events()
    assert events[["provider", "from_state", "to_state"]].values.tolist() == [["ollama", CLOSED, OPEN]]


def test_open_circuit_turns_half_open_after_the_cooldown_when_read(monkeypatch, now):
    monkeypatch.setenv("LLM_METRICS_CIRCUIT_COOLDOWN", "5")
    monkeypatch.setenv("LLM_METRICS_CIRCUIT_FAILURES", "3")
    fail("claude", 3, now - timedelta(seconds=60))
    claude = queries.get_provider("claude")
    assert (claude["circuit_state"], claude["is_available"]) == (HALF_OPEN, True)
    record_request(provider_name="claude", model="m", status="success")
    assert queries.get_provider("claude")["circuit_state"] == CLOSED
    assert queries.circuit_events()["to_state"].tolist() == [OPEN, HALF_OPEN, CLOSED]


def test_the_guides_manual_sql_reset_still_works(engine, now):
    fail("ollama", 5, now - timedelta(seconds=10))
    assert queries.get_provider(1)["is_available"] is False
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE llm_provider_health SET circuit_state = 'closed', failure_count = 0 WHERE provider_id = 1")
        )
    ollama = queries.get_provider(1)
    assert (ollama["circuit_state"], ollama["is_available"], ollama["failure_count"]) == (CLOSED, True, 0)


def test_reset_circuit_command_records_the_transition(now):
    fail("openai", 5, now - timedelta(seconds=10))
    p = reset_circuit("openai")
    assert (p["circuit_state"], p["failure_count"], p["is_available"]) == (CLOSED, 0, True)
    assert queries.circuit_events()["reason"].tolist() == ["5 consecutive failures", "manual reset"]


def test_health_summary_reports_open_circuits(now):
    from metrics_core import LLMMetricsService

    assert LLMMetricsService.get_health()["status"] == "healthy"
    fail("openai", 5, now - timedelta(seconds=10))
    h = LLMMetricsService.get_health()
    assert (h["status"], h["open_circuits"], h["providers_available"]) == ("degraded", ["openai"], 3)
    for name in ("ollama", "localai", "claude"):
        fail(name, 5, now - timedelta(seconds=10))
    assert LLMMetricsService.get_health()["status"] == "down"


def test_disabled_providers_are_not_picked():
    providers.set_enabled("ollama", False)
    providers.set_enabled("localai", False)
    assert pick_provider()["name"] == "claude"
    assert pick_provider(provider_type="local") is None


@pytest.mark.parametrize("bad", [0, -1, True, "2"])
def test_priority_must_be_a_positive_whole_number(bad):
    with pytest.raises(ValueError, match="priority must be a whole number >= 1"):
        providers.set_priority("claude", bad)
