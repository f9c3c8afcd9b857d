"""Nothing lost without a trace when a process ends (issue 12): SIGTERM and SIGHUP flush and then
end the process as the signal would have; multiprocessing spawn and forkserver Pool workers store
everything; records that cannot be written before the exit flush runs out are counted, logged
with the reason and stored (by the next process, from a spill file, if the database is locked).

Real processes, real signals, real SQLite files.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from test_recorder import count_rows, raw_totals, rollup_totals, run_script

import metrics_core
from metrics_core import recording
from metrics_core.queries import health_summary

pytestmark = pytest.mark.sqlite_only  # files read with sqlite3 and locked by a second connection

ROOT = Path(__file__).resolve().parent.parent

RECORD_THEN_WAIT = """
    import signal, sys, time
    {before}
    import metrics_core
    for i in range(3000):
        metrics_core.record_request(provider_name="openai", model="gpt-4o-mini", status="success", prompt_tokens=i)
    print("ready", flush=True)
    time.sleep(60)
    print("not killed", flush=True)
"""


def _start(tmp_path: Path, code: str, env: dict | None = None) -> subprocess.Popen:
    script = tmp_path / f"script_{time.monotonic_ns()}.py"
    script.write_text(textwrap.dedent(code))
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        env={**os.environ, "PYTHONPATH": str(ROOT), "LLM_METRICS_FLUSH_INTERVAL": "60", **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
    return proc


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_flushes_then_ends_the_process_as_it_would_have(tmp_path, metrics_db, signum):
    proc = _start(tmp_path, RECORD_THEN_WAIT.format(before=""))
    proc.send_signal(signum)
    out, _err = proc.communicate(timeout=60)
    assert proc.returncode == -signum  # killed by the signal, as without metrics_core
    assert "not killed" not in out
    assert count_rows(metrics_db) == 3000  # before: 0 of 3000
    assert rollup_totals(metrics_db) == raw_totals(metrics_db)


def test_the_applications_own_handler_is_chained(tmp_path, metrics_db):
    before = """
    def on_term(signum, frame):
        print("app handler", flush=True)
        sys.exit(3)
    signal.signal(signal.SIGTERM, on_term)
    """
    proc = _start(tmp_path, RECORD_THEN_WAIT.format(before=textwrap.dedent(before).replace("\n", "\n    ")))
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, err
    assert out.splitlines() == ["app handler"]
    assert count_rows(metrics_db) == 3000


def test_an_ignored_signal_stays_ignored(tmp_path, metrics_db):
    proc = _start(tmp_path, RECORD_THEN_WAIT.format(before="signal.signal(signal.SIGHUP, signal.SIG_IGN)"))
    proc.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    assert proc.poll() is None  # still running
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGTERM
    assert count_rows(metrics_db) == 3000


POOL = """
    import multiprocessing as mp, os, sys
    import metrics_core

    def task(i):
        for _ in range(20):
            metrics_core.record_request(provider_name="claude", model="claude-haiku-4-5", status="success",
                                        prompt_tokens=10, completion_tokens=1)
        return os.getpid()

    if __name__ == "__main__":
        with mp.get_context(sys.argv[1]).Pool(2) as pool:  # leaving calls terminate(): SIGTERM
            print(len(set(pool.map(task, range(20), chunksize=1))))
"""


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_pool_workers_of_spawn_and_forkserver_store_everything(tmp_path, metrics_db, method):
    run_script(tmp_path, POOL, method, env={"LLM_METRICS_FLUSH_INTERVAL": "30"})
    assert count_rows(metrics_db) == 400  # before (spawn): 0 of 400


LOCKED_EXIT = """
    import logging, sys
    logging.basicConfig(level=logging.ERROR)
    import metrics_core
    from metrics_core.recording import process_hooks
    process_hooks.EXIT_FLUSH_TIMEOUT = 2.0
    for i in range(int(sys.argv[1])):
        metrics_core.record_request(provider_name="openai", model="gpt-4o-mini", status="success", prompt_tokens=1)
"""


def test_records_lost_at_exit_are_counted_logged_and_stored_by_the_next_process(tmp_path, metrics_db, monkeypatch):
    metrics_core.record_request(provider_name="openai", model="gpt-4o", status="success")
    assert metrics_core.flush(10)  # the schema exists
    spill_dir = tmp_path / "spill"
    monkeypatch.setenv("LLM_METRICS_SPILL_DIR", str(spill_dir))
    locker = sqlite3.connect(metrics_db.removeprefix("sqlite:///"), isolation_level=None, timeout=0)
    locker.execute("BEGIN IMMEDIATE")
    try:
        result = run_script(tmp_path, LOCKED_EXIT, "700", env={"LLM_METRICS_SPILL_DIR": str(spill_dir)})
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert "lost 700 record(s) at exit: the database stayed unavailable for the 2 s exit flush" in result.stderr
    assert len(list(spill_dir.glob("llm-metrics-lost-*.json"))) == 1
    health = health_summary()  # reads never write: the count comes from the spill file meanwhile
    assert health["dropped_records"] == 700 and health["status"] == "degraded"
    assert len(list(spill_dir.glob("llm-metrics-lost-*.json"))) == 1
    recording.reset()  # a new writer, as in the next process
    metrics_core.record_request(provider_name="openai", model="gpt-4o", status="success")
    assert metrics_core.flush(10)  # its first write stores the spilled count
    assert list(spill_dir.glob("llm-metrics-lost-*")) == []
    with sqlite3.connect(metrics_db.removeprefix("sqlite:///")) as conn:
        count, detail = conn.execute("SELECT count, detail FROM llm_recorder_faults WHERE kind='dropped'").fetchone()
    assert count == 700
    assert "700 record(s) lost at exit: the database stayed unavailable" in detail
    assert health_summary()["dropped_records"] == 700  # stored once, no longer in a file


def test_a_slow_exit_flush_counts_exactly_what_it_could_not_write(tmp_path, metrics_db, monkeypatch):
    """The database takes writes but the exit flush runs out: every record is either stored or
    counted as lost in llm_recorder_faults, and the log says the database was reachable."""
    metrics_core.record_request(provider_name="openai", model="gpt-4o", status="success")
    assert metrics_core.flush(10)
    code = LOCKED_EXIT.replace("EXIT_FLUSH_TIMEOUT = 2.0", "EXIT_FLUSH_TIMEOUT = 0.05").replace(
        "    for i in range",
        "    metrics_core.record_request(provider_name='openai', model='m', status='success')\n"
        "    assert metrics_core.flush(30)  # the writer runs and has stored a batch\n"
        "    for i in range",
    )
    result = run_script(
        tmp_path,
        code,
        "60000",
        env={"LLM_METRICS_SPILL_DIR": str(tmp_path / "spill"), "LLM_METRICS_FLUSH_INTERVAL": "60"},
    )
    assert "exit flush ran out with" in result.stderr and "the database took writes" in result.stderr
    with sqlite3.connect(metrics_db.removeprefix("sqlite:///")) as conn:
        lost = conn.execute("SELECT coalesce(sum(count), 0) FROM llm_recorder_faults WHERE kind='dropped'").fetchone()
    assert lost[0] > 0
    assert count_rows(metrics_db) - 2 + lost[0] == 60000  # before: the lost ones were counted nowhere
