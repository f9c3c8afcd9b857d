"""Availability: the one definition, from the circuit history in ``llm_circuit_events``.

**The rule.** A provider is *unavailable* from the moment its circuit opens until a call succeeds
again (the circuit closes) or a person resets it; it is *available* while its circuit is closed.

* An open circuit with no calls arriving stays unavailable: nothing has shown that the provider
  is back (the cooldown only decides when the next call may try it).
* Half-open is still unavailable: a probe that fails re-opens the circuit, so calls that keep
  failing through half-open probes read as one unbroken outage; the first probe that succeeds
  ends it.
* The state at the window's start is the last transition before it; time after ``now`` is left out.

``availability_pct`` = 100 x (time closed) / (time of the window up to now). ``open_minutes`` is the
time not closed. The dashboard, the report, notebooks, the API and the CLI all read these functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pandas as pd
from sqlalchemy import select

from .. import clock, storage
from .common import Window, read_engine, window_of

CLOSED = "closed"


@dataclass(frozen=True)
class Outages:
    """Each provider's unavailable intervals inside ``[start, end)``, with its transitions there."""

    start: datetime
    end: datetime
    names: list[tuple[int, str]]
    intervals: dict[int, list[tuple[datetime, datetime]]]
    transitions: dict[int, list[tuple[datetime, str]]]
    openings: dict[int, int]


def outages(*, window: Window, providers=None, now: datetime | None = None, engine=None) -> Outages:
    """The unavailable intervals of every provider (or those named) over ``window``, cut at ``now``."""
    engine = read_engine(engine)
    start = datetime.combine(window.start, datetime.min.time())
    end = min(datetime.combine(window.end + timedelta(days=1), datetime.min.time()), clock.naive_utc(now))
    e, p = storage.circuit_events, storage.providers
    with engine.connect() as conn:
        q = select(p.c.id, p.c.name).order_by(p.c.priority, p.c.id)
        if providers:
            q = q.where(p.c.name.in_(providers))
        names = [tuple(r) for r in conn.execute(q).all()]
        before = {  # each provider's last transition before the window
            r.provider_id: r.to_state
            for r in conn.execute(
                select(e.c.provider_id, e.c.to_state, e.c.at, e.c.id).where(e.c.at < start).order_by(e.c.at, e.c.id)
            )
        }
        rows = conn.execute(
            select(e.c.provider_id, e.c.at, e.c.to_state).where(e.c.at >= start, e.c.at < end).order_by(e.c.at, e.c.id)
        ).all()
    transitions: dict[int, list[tuple[datetime, str]]] = {}
    for row in rows:
        transitions.setdefault(row.provider_id, []).append((row.at, row.to_state))
    intervals: dict[int, list[tuple[datetime, datetime]]] = {}
    openings: dict[int, int] = {}
    for pid, _name in names:
        spans = intervals[pid] = []
        openings[pid] = 0
        down_since = None if before.get(pid, CLOSED) == CLOSED else start
        for at, to_state in transitions.get(pid, []):
            if to_state == CLOSED and down_since is not None:
                spans.append((down_since, at))
                down_since = None
            elif to_state != CLOSED and down_since is None:
                down_since = at
                openings[pid] += 1
        if down_since is not None and end > down_since:
            spans.append((down_since, end))
    return Outages(start, end, names, intervals, transitions, openings)


def _seconds_per_day(spans: list[tuple[datetime, datetime]]) -> dict[date, float]:
    acc: dict[date, float] = {}
    for lo, hi in spans:
        while lo < hi:
            cut = min(hi, datetime.combine(lo.date() + timedelta(days=1), datetime.min.time()))
            acc[lo.date()] = acc.get(lo.date(), 0.0) + (cut - lo).total_seconds()
            lo = cut
    return acc


def availability(
    days: int | None = None, *, window: Window | None = None, providers=None, now: datetime | None = None, engine=None
) -> pd.DataFrame:
    """Per provider over the window: ``provider, availability_pct, open_minutes, openings``.

    ``openings``: how many outages began in the window (half-open probes that fail do not count
    again). A window that has not begun yet (after ``now``) reads 100%.
    """
    window = window_of(days, window, 30)
    out = outages(window=window, providers=providers, now=now, engine=engine)
    span = max((out.end - out.start).total_seconds(), 0.0)
    rows = []
    for pid, name in out.names:
        down = sum((hi - lo).total_seconds() for lo, hi in out.intervals[pid])
        rows.append(
            {
                "provider": name,
                "availability_pct": round((1 - down / span) * 100, 3) if span else 100.0,
                "open_minutes": round(down / 60, 1),
                "openings": out.openings[pid],
            }
        )
    return pd.DataFrame(rows, columns=["provider", "availability_pct", "open_minutes", "openings"])


def daily_availability(
    days: int | None = None, *, window: Window | None = None, providers=None, now: datetime | None = None, engine=None
) -> pd.DataFrame:
    """Per provider and UTC day of the window (up to ``now``): ``provider, date, availability_pct,
    open_minutes, transitions`` (``date`` as datetime), by the same rule as ``availability``."""
    window = window_of(days, window, 30)
    out = outages(window=window, providers=providers, now=now, engine=engine)
    rows = []
    for pid, name in out.names:
        down = _seconds_per_day(out.intervals[pid])
        moves: dict[date, int] = {}
        for at, _to in out.transitions.get(pid, []):
            moves[at.date()] = moves.get(at.date(), 0) + 1
        for d in window.dates():
            day_start = datetime.combine(d, datetime.min.time())
            span = (min(day_start + timedelta(days=1), out.end) - day_start).total_seconds()
            if span <= 0:
                continue
            closed_not = down.get(d, 0.0)
            rows.append((name, d, round(100 * (1 - closed_not / span), 3), round(closed_not / 60, 1), moves.get(d, 0)))
    frame = pd.DataFrame(rows, columns=["provider", "date", "availability_pct", "open_minutes", "transitions"])
    frame["date"] = pd.to_datetime(frame["date"])
    return frame
