"""The buffered writer: nothing lost at exit, across processes and forks; storage faults never raise
into the caller and the records arrive once the fault clears; drops are counted exactly.

Real SQLite files and real subprocesses throughout; nothing of the database is mocked.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import event

import metrics_core
from metrics_core import recording, storage
from metrics_core.queries import health_summary
from metrics_core.recording import validate

pytestmark = pytest.mark.sqlite_only  # real SQLite files read with sqlite3; PostgreSQL: test_recorder_postgres.py

ROOT = Path(__file__).resolve().parent.parent


def _path(url: str) -> str:
    return url.removeprefix("sqlite:///")


def count_rows(url: str, where: str = "1=1") -> int:
    """Rows of llm_requests, read with plain sqlite3 (no flush, no metrics_core)."""
    with sqlite3.connect(_path(url), timeout=30) as conn:
        return conn.execute(f"SELECT count(*) FROM llm_requests WHERE {where}").fetchone()[0]


def rollup_totals(url: str) -> tuple[int, int, int]:
    with sqlite3.connect(_path(url), timeout=30) as conn:
        return tuple(
            conn.execute(
                "SELECT sum(requests), sum(prompt_tokens), sum(completion_tokens) FROM llm_costs_daily"
            ).fetchone()
        )


def raw_totals(url: str) -> tuple[int, int, int]:
    with sqlite3.connect(_path(url), timeout=30) as conn:
        return tuple(
            conn.execute("SELECT count(*), sum(prompt_tokens), sum(completion_tokens) FROM llm_requests").fetchone()
        )


def run_script(tmp_path: Path, code: str, *args: str, env: dict | None = None, timeout: float = 120):
    """Run ``code`` as a fresh Python process (this checkout first on sys.path); returns the result."""
    script = tmp_path / f"script_{time.monotonic_ns()}.py"
    script.write_text(textwrap.dedent(code))
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    result = subprocess.run(
        [sys.executable, str(script), *args], env=full_env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, result.stderr
    return result


def record(n: int = 1, **overrides) -> None:
    for _ in range(n):
        metrics_core.record_request(
            **{
                "provider_name": "claude",
                "model": "claude-sonnet-4-5",
                "status": "success",
                "prompt_tokens": 100,
                "completion_tokens": 10,
                "duration_seconds": 0.5,
                **overrides,
            }
        )


# -- exit, sync mode -----------------------------------------------------------------------------
def test_nothing_lost_at_normal_exit(tmp_path, metrics_db):
    """A process that records and simply ends has every record written by the atexit flush."""
    result = run_script(
        tmp_path,
        """
        import sys
        from metrics_core import record_request, recording
        n = int(sys.argv[1])
        for i in range(n):
            record_request(provider_name="openai", model="gpt-4o-mini", status="success", prompt_tokens=i,
                           completion_tokens=1, duration_seconds=0.1, tags={"n": str(i % 7)})
        print(recording.stats()["queued"])  # still queued when the script ends
    """,
        "20000",
        env={"LLM_METRICS_FLUSH_INTERVAL": "60"},
    )
    assert int(result.stdout) > 0
    assert count_rows(metrics_db) == 20000
    assert rollup_totals(metrics_db) == raw_totals(metrics_db)


def test_sync_mode_writes_before_returning(metrics_db, monkeypatch):
    monkeypatch.setenv("LLM_METRICS_SYNC", "1")
    recording.reset()
    record()
    assert count_rows(metrics_db) == 1
    monkeypatch.delenv("LLM_METRICS_SYNC")
    recording.reset()
    record(sync=True)
    assert count_rows(metrics_db) == 2
    record()  # buffered again
    assert metrics_core.flush(10)
    assert count_rows(metrics_db) == 3


# -- several processes ---------------------------------------------------------------------------
WORKER = """
    import random, sys, time
    from metrics_core import record_request, recording
    seconds, seed = float(sys.argv[1]), int(sys.argv[2])
    rnd = random.Random(seed)
    models = [("claude", "claude-sonnet-4-5"), ("openai", "gpt-4o-mini"), ("ollama", "llama3"), ("acme", f"m{seed}")]
    n = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for _ in range(50):
            provider, model = rnd.choice(models)
            record_request(provider_name=provider, model=model, status=rnd.choice(["success", "success", "failed"]),
                           prompt_tokens=rnd.randint(0, 5000), completion_tokens=rnd.randint(0, 500),
                           duration_seconds=rnd.random(), tags={"worker": str(seed)} if n % 3 else None)
            n += 1
        time.sleep(0.01)
    print(n, recording.stats()["dropped"])
"""


def test_four_processes_lose_nothing(tmp_path, metrics_db):
    """Four processes record into one fresh SQLite file at once (schema creation included)."""
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(WORKER))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), "3", str(seed)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in range(4)
    ]
    recorded = dropped = 0
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        n, d = map(int, out.split())
        recorded += n
        dropped += d
    assert dropped == 0
    assert recorded > 1000
    assert count_rows(metrics_db) == recorded
    assert rollup_totals(metrics_db) == raw_totals(metrics_db)
    for seed in range(4):
        with sqlite3.connect(_path(metrics_db)) as conn:
            tagged = conn.execute(
                "SELECT count(*) FROM llm_requests WHERE tags = ?", (json.dumps({"worker": str(seed)}),)
            ).fetchone()[0]
            rolled = conn.execute(
                "SELECT sum(requests) FROM llm_tag_costs_daily WHERE tag_key='worker' AND tag_value=?", (str(seed),)
            ).fetchone()[0]
        assert tagged == rolled


MULTIPROCESSING = """
    import multiprocessing as mp, os, sys
    from metrics_core import record_request, recording

    def rec(who, n):
        for i in range(n):
            record_request(provider_name="claude", model="claude-haiku-4-5", status="success", prompt_tokens=10,
                           completion_tokens=1, duration_seconds=0.01, tags={"who": who})

    def task(i):
        rec("pool-" + sys.argv[1], 50)
        return os.getpid()

    def process_child(i):
        rec("process", 300)

    if __name__ == "__main__":
        ctx = mp.get_context(sys.argv[2])
        rec("parent", 500)
        pending_at_fork = recording.stats()["queued"]
        procs = [ctx.Process(target=process_child, args=(i,)) for i in range(3)]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        if sys.argv[1] == "with":  # leaving the with block calls Pool.terminate(): SIGTERM to the workers
            with ctx.Pool(2) as pool:
                pids = pool.map(task, range(20), chunksize=1)
        else:
            pool = ctx.Pool(2)
            pids = pool.map(task, range(20), chunksize=1)
            pool.close()
            pool.join()
        print(pending_at_fork, len(set(pids)), [p.exitcode for p in procs])
"""


@pytest.mark.parametrize(
    ("pool_exit", "method"), [("close", "fork"), ("with", "fork"), ("close", "spawn"), ("with", "forkserver")]
)
def test_multiprocessing_children_lose_nothing(tmp_path, metrics_db, pool_exit, method):
    """Process and Pool children (which leave through os._exit) write everything; the parent's rows
    pending at fork time are written once, by the parent."""
    result = run_script(tmp_path, MULTIPROCESSING, pool_exit, method, env={"LLM_METRICS_FLUSH_INTERVAL": "30"})
    pending_at_fork, _workers, exitcodes = result.stdout.split(" ", 2)
    assert exitcodes.strip() == "[0, 0, 0]"
    assert int(pending_at_fork) > 0
    assert count_rows(metrics_db, 'tags = \'{"who": "parent"}\'') == 500
    assert count_rows(metrics_db, 'tags = \'{"who": "process"}\'') == 900
    assert count_rows(metrics_db, f'tags = \'{{"who": "pool-{pool_exit}"}}\'') == 1000
    assert rollup_totals(metrics_db) == raw_totals(metrics_db)


def test_os_fork_child_has_its_own_writer(tmp_path, metrics_db):
    result = run_script(
        tmp_path,
        """
        import os
        from metrics_core import flush, record_request, recording
        def rec(who, n):
            for _ in range(n):
                record_request(provider_name="openai", model="gpt-4o", status="success", tags={"who": who})
        rec("parent", 200)
        parent_writer = recording.current()
        pid = os.fork()
        if pid == 0:
            assert recording.current() is None
            rec("child", 100)
            assert recording.current() is not parent_writer
            flush()  # os._exit skips atexit: a bare fork child flushes itself
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        print(status)
    """,
        env={"LLM_METRICS_FLUSH_INTERVAL": "30"},
    )
    assert result.stdout.strip() == "0"
    assert count_rows(metrics_db, 'tags = \'{"who": "parent"}\'') == 200
    assert count_rows(metrics_db, 'tags = \'{"who": "child"}\'') == 100


# -- storage faults ------------------------------------------------------------------------------
def _wait_for(predicate, timeout: float = 20) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_read_only_database_then_writable(metrics_db):
    """Writes refused by SQLite itself (PRAGMA query_only on every connection the writer gets) are
    retried; record_request never raises; the records arrive once the database takes writes again."""
    record()  # the schema exists and the writer runs
    assert metrics_core.flush(10)
    engine = storage.get_engine(metrics_db)
    read_only = threading.Event()
    read_only.set()

    @event.listens_for(engine, "checkout")
    def _query_only(dbapi_connection, _record, _proxy):
        dbapi_connection.execute(f"PRAGMA query_only={'ON' if read_only.is_set() else 'OFF'}")

    record(50)
    assert not metrics_core.flush(1.0)  # cannot be written yet
    stats = recording.stats()
    assert stats["queued"] == 50 and stats["write_errors"] > 0
    assert "readonly" in stats["last_error"]
    record(25, sync=True)  # sync mode falls back to the queue, without raising
    read_only.clear()
    assert metrics_core.flush(20)
    assert count_rows(metrics_db) == 76
    assert recording.stats()["dropped"] == 0


def test_locked_database_then_released(metrics_db):
    """Another connection holds the write lock (BEGIN EXCLUSIVE): nothing raises; the records
    arrive after it lets go."""
    record()
    assert metrics_core.flush(10)
    locker = sqlite3.connect(_path(metrics_db), isolation_level=None, timeout=0)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        record(100)
        assert time.monotonic() - started < 1.0  # the caller does not wait for the lock
        assert not metrics_core.flush(1.0)
        assert count_rows_nolock(locker) == 1
    finally:
        locker.execute("COMMIT")
        locker.close()
    assert metrics_core.flush(40)
    assert count_rows(metrics_db) == 101


def count_rows_nolock(conn) -> int:
    return conn.execute("SELECT count(*) FROM llm_requests").fetchone()[0]


def test_disk_full_then_space(metrics_db):
    """SQLITE_FULL (the database may not grow: PRAGMA max_page_count) is a storage fault too."""
    record()
    assert metrics_core.flush(10)
    engine = storage.get_engine(metrics_db)
    full = threading.Event()
    full.set()

    @event.listens_for(engine, "checkout")
    def _limit(dbapi_connection, _record, _proxy):
        pages = dbapi_connection.execute("PRAGMA page_count").fetchone()[0]
        dbapi_connection.execute(f"PRAGMA max_page_count={pages if full.is_set() else 1_000_000_000}")

    record(3000, error_message="x" * 500)  # needs new pages
    assert not metrics_core.flush(1.5)
    assert "full" in recording.stats()["last_error"]
    full.clear()
    assert metrics_core.flush(20)
    assert count_rows(metrics_db) == 3001


def test_unwritable_location_at_first_use(tmp_path, monkeypatch):
    """The database cannot even be created yet (its directory is a file): the records wait."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    url = f"sqlite:///{blocker}/metrics.db"
    monkeypatch.setenv("LLM_METRICS_DB_URL", url)
    recording.reset(flush_first=False)
    record(10)
    assert not metrics_core.flush(1.0)
    blocker.unlink()
    blocker.mkdir()
    assert metrics_core.flush(20)
    assert count_rows(url) == 10


# -- drops, bad records -----------------------------------------------------------------------------
def test_queue_full_drops_newest_counted_exactly(metrics_db, monkeypatch):
    monkeypatch.setenv("LLM_METRICS_QUEUE_SIZE", "100")
    recording.reset()
    record()
    assert metrics_core.flush(10)
    locker = sqlite3.connect(_path(metrics_db), isolation_level=None, timeout=0)
    locker.execute("BEGIN EXCLUSIVE")  # the writer stalls with one batch taken off the queue
    try:
        record(1)
        assert _wait_for(lambda: recording.stats()["queued"] == 1 and not recording.current().queue)
        record(100)  # fills the queue
        record(37)  # dropped
        stats = recording.stats()
        assert stats["dropped"] == 37
    finally:
        locker.execute("COMMIT")
        locker.close()
    assert metrics_core.flush(40)
    assert count_rows(metrics_db) == 1 + 1 + 100
    health = health_summary()
    assert health["dropped_records"] == 37
    assert health["status"] == "degraded"
    assert metrics_core.LLMMetricsService.get_health()["dropped_records"] == 37
    with sqlite3.connect(_path(metrics_db)) as conn:
        assert conn.execute("SELECT kind, count FROM llm_recorder_faults").fetchall() == [("dropped", 37)]


def test_a_bad_record_costs_only_itself(metrics_db):
    """A record the database refuses (too big for an SQLite integer) is isolated by halving the
    batch; its neighbours, including a provider registered in the same batch, are written."""
    writer = recording.get_writer()
    good = ("acme", "m1", "success", None, 10, 1, 0, 0, 0, 0.1, None, None, None, None, time.time(), None, None, True)
    bad = ("acme", "m1", "success", None, 2**70, 1, 0, 0, 0, 0.1, None, None, None, None, time.time(), None, None, True)
    for item in [good] * 5 + [bad] + [good] * 6:
        writer.put(item)
    assert metrics_core.flush(20)
    assert count_rows(metrics_db) == 11
    assert recording.stats()["dropped"] == 1
    assert health_summary()["dropped_records"] == 1


def test_long_error_messages_are_bounded_on_the_caller_and_stored_as_before(metrics_db, monkeypatch):
    secret = "sk-ant-" + "a" * 40
    message = "x" * 990 + " " + secret + " " + "y" * 9000
    writer = recording.get_writer()
    queued = []
    put = writer.put
    monkeypatch.setattr(writer, "put", lambda item: (queued.append(item), put(item)))
    record(status="failed", error_message=message)
    assert len(queued[0][11]) == 1000 + validate.ERROR_MARGIN
    assert metrics_core.flush(10)
    with sqlite3.connect(_path(metrics_db)) as conn:
        stored = conn.execute("SELECT error_message FROM llm_requests").fetchone()[0]
    from metrics_core.recording.redact import clean_error

    assert stored == clean_error(message, 1000)
    assert "aaaaaaaa" not in stored


def test_memory_per_queued_record_within_documented_bound(metrics_db):
    """A typical queued record (no tags, no error) costs well under recording.QUEUED_RECORD_BYTES."""
    import tracemalloc

    locker = sqlite3.connect(_path(metrics_db), isolation_level=None, timeout=0)
    record()
    assert metrics_core.flush(10)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        record(5000, prompt_tokens=1234, completion_tokens=567, duration_seconds=1.25)
        per_record = (tracemalloc.get_traced_memory()[0] - before) / 5000
        tracemalloc.stop()
    finally:
        locker.execute("COMMIT")
        locker.close()
    assert per_record < recording.QUEUED_RECORD_BYTES


def test_rollups_match_raw_rows_after_many_batches(metrics_db, monkeypatch):
    monkeypatch.setenv("LLM_METRICS_BATCH_SIZE", "37")
    recording.reset()
    for i in range(500):
        record(
            prompt_tokens=i,
            completion_tokens=i % 11,
            status="success" if i % 5 else "failed",
            tags={"k": str(i % 3)} if i % 2 else None,
        )
    assert metrics_core.flush(20)
    assert rollup_totals(metrics_db) == raw_totals(metrics_db)
