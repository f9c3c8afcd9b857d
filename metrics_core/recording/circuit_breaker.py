"""The circuit breaker: one per provider, kept in ``llm_provider_health``.

``closed`` -> ``open`` after N consecutive failed calls (``failed``, ``timeout``, ``rate_limited``;
``cancelled`` is the caller's choice and counts neither way). An open circuit waits out its cooldown,
then turns ``half_open``; the next call there closes it (success) or opens it again (failure).
Outcomes reported while a circuit is open and cooling down do not move it. Every transition is
written to ``llm_circuit_events``.

Transitions are stored only when an outcome is recorded or a person resets the circuit; readers
derive the half-open state after a cooldown themselves (``queries.providers.effective_state``).
``is_available`` is derived from ``circuit_state`` when read, so the original guide's manual reset
(``UPDATE llm_provider_health SET circuit_state='closed', failure_count=0 WHERE provider_id=1``)
keeps working. Such a reset leaves ``opened_at`` set (metrics_core clears it whenever it closes a
circuit): the next write that loads the circuit records the transition (``closed outside
metrics_core``) and clears ``opened_at``, so the circuit history and availability stay right.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import select, update

from .. import clock, storage
from ..config import settings

CLOSED, HALF_OPEN, OPEN = "closed", "half_open", "open"
STATES = (CLOSED, HALF_OPEN, OPEN)
FAILURE_STATUSES = frozenset({"failed", "timeout", "rate_limited"})


@dataclass(frozen=True, slots=True)
class Circuit:
    """One provider's breaker state."""

    state: str = CLOSED
    failure_count: int = 0
    opened_at: datetime | None = None
    last_success_at: datetime | None = None
    last_failure_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Transition:
    at: datetime
    from_state: str
    to_state: str
    reason: str


def cool_down(circuit: Circuit, now: datetime, cooldown: float) -> tuple[Circuit, list[Transition]]:
    """Turn an open circuit half-open once its cooldown has passed."""
    if (
        circuit.state == OPEN
        and circuit.opened_at is not None
        and now - circuit.opened_at >= timedelta(seconds=cooldown)
    ):
        at = circuit.opened_at + timedelta(seconds=cooldown)
        return replace(circuit, state=HALF_OPEN), [Transition(at, OPEN, HALF_OPEN, f"cooldown of {cooldown:g}s passed")]
    return circuit, []


def observe(
    circuit: Circuit, status: str, at: datetime, *, threshold: int, cooldown: float
) -> tuple[Circuit, list[Transition]]:
    """The breaker after one call with ``status`` at ``at``, and the transitions it made."""
    circuit, events = cool_down(circuit, at, cooldown)
    if status == "success":
        circuit = replace(circuit, last_success_at=at)
        if circuit.state == OPEN:
            return circuit, events
        if circuit.state == HALF_OPEN:
            events.append(Transition(at, HALF_OPEN, CLOSED, "success while half-open"))
        return replace(circuit, state=CLOSED, failure_count=0, opened_at=None), events
    if status not in FAILURE_STATUSES:
        return circuit, events
    circuit = replace(circuit, last_failure_at=at)
    if circuit.state == OPEN:
        return circuit, events
    count = circuit.failure_count + 1
    if circuit.state == HALF_OPEN:
        events.append(Transition(at, HALF_OPEN, OPEN, f"{status} while half-open"))
        return replace(circuit, state=OPEN, failure_count=count, opened_at=at), events
    if count >= threshold:
        events.append(Transition(at, CLOSED, OPEN, f"{count} consecutive failures"))
        return replace(circuit, state=OPEN, failure_count=count, opened_at=at), events
    return replace(circuit, failure_count=count), events


def _circuit(row) -> Circuit:
    return Circuit(
        state=row.circuit_state if row.circuit_state in STATES else CLOSED,
        failure_count=row.failure_count or 0,
        opened_at=row.opened_at,
        last_success_at=row.last_success_at,
        last_failure_at=row.last_failure_at,
    )


def save(conn, provider_id: int, circuit: Circuit, transitions: list[Transition], now: datetime) -> None:
    """Write a breaker state and its transitions (inside the caller's transaction)."""
    conn.execute(
        update(storage.provider_health)
        .where(storage.provider_health.c.provider_id == provider_id)
        .values(
            circuit_state=circuit.state,
            is_available=circuit.state != OPEN,
            failure_count=circuit.failure_count,
            opened_at=circuit.opened_at,
            last_success_at=circuit.last_success_at,
            last_failure_at=circuit.last_failure_at,
            updated_at=now,
        )
    )
    if transitions:
        conn.execute(
            storage.circuit_events.insert(),
            [
                dict(provider_id=provider_id, at=t.at, from_state=t.from_state, to_state=t.to_state, reason=t.reason)
                for t in transitions
            ],
        )


def load(conn, provider_id: int, *, at: datetime | None = None) -> Circuit:
    """A provider's breaker, inside a write transaction.

    A circuit closed outside metrics_core (the guide's SQL reset: ``closed`` with ``opened_at`` still
    set) gets its transition recorded now, dated ``at`` (default: now), and ``opened_at`` cleared.
    """
    row = conn.execute(
        select(storage.provider_health).where(storage.provider_health.c.provider_id == provider_id)
    ).one_or_none()
    if row is None:
        return Circuit()
    circuit = _circuit(row)
    if circuit.state == CLOSED and circuit.opened_at is not None:
        circuit = _record_outside_close(conn, provider_id, circuit, at or clock.utc_now())
    return circuit


def _record_outside_close(conn, provider_id: int, circuit: Circuit, at: datetime) -> Circuit:
    """Record a close made by hand in SQL (if the history still says open) and clear ``opened_at``."""
    e = storage.circuit_events
    last = conn.execute(
        select(e.c.to_state, e.c.at).where(e.c.provider_id == provider_id).order_by(e.c.at.desc(), e.c.id.desc())
    ).first()
    circuit = replace(circuit, opened_at=None)
    transitions = []
    if last is not None and last.to_state != CLOSED:
        transitions = [Transition(max(at, last.at), last.to_state, CLOSED, "closed outside metrics_core (SQL reset)")]
    save(conn, provider_id, circuit, transitions, at)
    return circuit


def apply_outcomes(conn, outcomes: dict[int, list[tuple[datetime, str]]], now: datetime) -> None:
    """Feed each provider's calls (in time order) through its breaker, inside the writer's transaction."""
    cfg = settings()
    for provider_id, calls in sorted(outcomes.items()):  # one lock order for concurrent writers
        calls = sorted(calls, key=lambda c: c[0])
        circuit = before = load(conn, provider_id, at=min(calls[0][0], now) if calls else now)
        transitions: list[Transition] = []
        last_ok = None
        for at, status in calls:
            if status == "success" and circuit.state == CLOSED and circuit.failure_count == 0:
                last_ok = at  # the common case, nothing else changes
                continue
            circuit, events = observe(
                circuit, status, at, threshold=cfg.circuit_failures, cooldown=cfg.circuit_cooldown_seconds
            )
            transitions += events
        if last_ok is not None and (circuit.last_success_at is None or last_ok > circuit.last_success_at):
            circuit = replace(circuit, last_success_at=last_ok)
        if circuit != before or transitions:
            save(conn, provider_id, circuit, transitions, now)


def reset(engine, provider_id: int, now: datetime) -> None:
    """Close a provider's circuit by hand (recorded as a transition)."""
    with engine.connect() as conn, conn.execution_options(immediate=True).begin():
        circuit = load(conn, provider_id)
        events = [Transition(now, circuit.state, CLOSED, "manual reset")] if circuit.state != CLOSED else []
        save(conn, provider_id, replace(circuit, state=CLOSED, failure_count=0, opened_at=None), events, now)
