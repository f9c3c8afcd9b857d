"""Moves the clock of a whole test run, the processes it starts included (``make test-calendar``).

``llm_metrics_timetravel.pth``, installed next to this module in the virtualenv's site-packages,
imports it at interpreter start-up when ``LLM_METRICS_TEST_NOW`` holds an ISO instant with a UTC
offset, e.g. ``2026-12-31T23:59:00Z``. The wall clock (``time.time``, ``datetime.now``,
``date.today``) then ticks on from that instant (``time_machine.travel(..., tick=True)``);
``time.monotonic``, ``time.perf_counter`` and ``time.sleep`` keep running in real time, so timeouts
and thread waits behave. The first process stores its real start time in
``LLM_METRICS_TEST_NOW_ANCHOR``; the processes it starts inherit it and read the same moved clock
(the instant plus the real time elapsed since the run began), not one restarted at the instant.

``python -m llm_metrics_timetravel`` prints the moved clock and fails when the variable is set but
the clock did not move (e.g. the ``.pth`` file is missing).
"""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime, timedelta

VARIABLE = "LLM_METRICS_TEST_NOW"
ANCHOR = "LLM_METRICS_TEST_NOW_ANCHOR"


def parse_instant(value: str) -> datetime:
    """The aware UTC datetime an ISO instant names; a ValueError naming the variable otherwise."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ValueError(
            f"{VARIABLE}: expected an ISO instant with a UTC offset, e.g. 2026-12-31T23:59:00Z, got {value!r}"
        )
    return moment.astimezone(UTC)


def real_time_ns() -> int:
    """The real wall clock, also while travelling."""
    import time_machine

    hatch = time_machine.escape_hatch
    return hatch.time.time_ns() if hatch.is_travelling() else time.time_ns()


def start(value: str, environ=os.environ):
    """Start travelling to ``value`` shifted by the real time elapsed since the run's anchor.

    Returns:
        the started ``time_machine.travel`` (``.stop()`` ends it).
    """
    import time_machine

    real_ns = real_time_ns()
    raw_anchor = environ.setdefault(ANCHOR, str(real_ns))
    try:
        anchor_ns = int(raw_anchor)
    except ValueError:
        raise ValueError(f"{ANCHOR}: expected real nanoseconds since the epoch, got {raw_anchor!r}") from None
    destination = parse_instant(value) + timedelta(microseconds=(real_ns - anchor_ns) // 1000)
    travel = time_machine.travel(destination, tick=True)
    travel.start()
    time.time()  # the moved clock ticks from its first reading: take it now
    return travel


def main() -> int:
    """Print the clock; 1 when ``LLM_METRICS_TEST_NOW`` is set but the clock did not move."""
    import time_machine

    value = os.environ.get(VARIABLE)
    travelling = time_machine.escape_hatch.is_travelling()
    print(f"{VARIABLE}={value or '(unset)'}: now {datetime.now(UTC).isoformat()}, travelling={travelling}")
    if value and not travelling:
        print(
            f"{VARIABLE} is set but the clock did not move: is llm_metrics_timetravel.pth installed?", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
elif os.environ.get(VARIABLE):
    try:
        start(os.environ[VARIABLE])
    except ValueError as exc:  # a run meant to travel must not silently run on today's date
        print(exc, file=sys.stderr)
        os._exit(2)
