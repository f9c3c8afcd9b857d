"""The whole-run clock of ``make test-calendar`` (tests/timetravel/llm_metrics_timetravel.py)."""

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

TIMETRAVEL = Path(__file__).resolve().parent / "timetravel"
sys.path.insert(0, str(TIMETRAVEL))
import llm_metrics_timetravel as tt  # noqa: E402

pytestmark = pytest.mark.sqlite_only


def test_instant_needs_a_utc_offset():
    assert tt.parse_instant("2027-01-01T00:05:00Z") == datetime(2027, 1, 1, 0, 5, tzinfo=UTC)
    assert tt.parse_instant("2028-02-29T13:00:00+01:00") == datetime(2028, 2, 29, 12, 0, tzinfo=UTC)
    for bad in ("2026-12-31T23:59:00", "tomorrow", ""):
        with pytest.raises(ValueError, match="LLM_METRICS_TEST_NOW: expected an ISO instant with a UTC offset"):
            tt.parse_instant(bad)


def test_a_process_started_later_reads_the_same_moved_clock():
    real = tt.real_time_ns()  # also while a calendar run moves the clock
    environ = {tt.ANCHOR: str(real - 90 * 10**9)}  # the run began 90 s ago
    travel = tt.start("2028-02-29T12:00:00Z", environ)
    try:
        moved = datetime.now(UTC) - datetime(2028, 2, 29, 12, 1, 30, tzinfo=UTC)
    finally:
        travel.stop()
    assert timedelta(0) <= moved < timedelta(seconds=2)


def test_the_first_process_sets_the_anchor():
    environ = {}
    before = tt.real_time_ns()
    tt.start("2026-12-31T23:59:00Z", environ).stop()
    assert before <= int(environ[tt.ANCHOR]) <= tt.real_time_ns()


CHILD = """
import sys, threading, time
sys.path.insert(0, sys.argv[1])
import llm_metrics_timetravel  # what the .pth file does when LLM_METRICS_TEST_NOW is set
from datetime import UTC, date, datetime
m0, w0 = time.monotonic(), time.time()
time.sleep(0.2)
threading.Event().wait(0.2)
print(date.today(), datetime.now(UTC).strftime("%H:%M"), time.monotonic() - m0, time.time() - w0)
"""


def run_child(**env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in (tt.VARIABLE, tt.ANCHOR)}
    return subprocess.run(
        [sys.executable, "-c", CHILD, str(TIMETRAVEL)], env=clean | env, capture_output=True, text=True, timeout=60
    )


def test_the_clock_moves_but_sleeps_waits_and_monotonic_run_in_real_time():
    child = run_child(LLM_METRICS_TEST_NOW="2028-02-29T12:00:00Z")
    assert child.returncode == 0, child.stderr
    day, hour, monotonic, wall = child.stdout.split()
    assert (day, hour) == ("2028-02-29", "12:00")
    assert 0.4 <= float(monotonic) < 2 and 0.4 <= float(wall) < 2


def test_unset_is_a_no_op_and_a_bad_instant_stops_the_process():
    today = datetime.fromtimestamp(tt.real_time_ns() / 1e9, UTC).date().isoformat()
    assert run_child().stdout.split()[0] == today
    bad = run_child(LLM_METRICS_TEST_NOW="2026-12-31 23:59")
    assert bad.returncode == 2 and "expected an ISO instant with a UTC offset" in bad.stderr
