"""Reads never stall on a database that does not take writes (issue 12): with the SQLite file
write-locked by another connection, the request-path reads answer from what is stored, say what
they miss, and health is degraded with the reason; once the lock goes, reads see everything again.
"""

from __future__ import annotations

import sqlite3
import time

import pytest

import metrics_core
from metrics_core import queries, recording
from metrics_core.queries import health_summary


def _record(n: int, **kw) -> None:
    for _ in range(n):
        metrics_core.record_request(
            provider_name="claude",
            model="claude-sonnet-4-5",
            status="success",
            prompt_tokens=100,
            completion_tokens=10,
            **kw,
        )


def _timed(fn, *args, **kwargs):
    started = time.monotonic()
    result = fn(*args, **kwargs)
    return result, time.monotonic() - started


@pytest.mark.sqlite_only  # a SQLite file locked by a second connection
def test_reads_answer_at_once_while_the_database_is_write_locked(metrics_db):
    _record(3)
    assert metrics_core.flush(10)
    locker = sqlite3.connect(metrics_db.removeprefix("sqlite:///"), isolation_level=None, timeout=0)
    locker.execute("BEGIN IMMEDIATE")
    try:
        _record(40)
        time.sleep(1.5)  # the writer's first attempt is now waiting on the lock for longer than a second
        picked, t_pick = _timed(metrics_core.pick_provider)
        _, t_check = _timed(metrics_core.check_budget, provider="claude")
        health, t_health = _timed(health_summary)
        usage, t_usage = _timed(queries.metrics, days=1)
        # before: 30 s each (pick, check) and 90 s (health), the time the reads waited for the flush
        assert t_pick < 2 and t_check < 2 and t_health < 2 and t_usage < 2
        assert picked["name"] == "ollama"  # seeded providers, by priority
        assert picked["stale"] is True and picked["pending_records"] == 40
        assert usage["total_requests"] == 3  # what is stored
        assert health["status"] == "degraded"
        assert health["stale"] is True and health["pending_records"] == 40
        assert any("40 record(s) are queued and cannot be written" in r for r in health["reasons"])
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert metrics_core.flush(60)
    assert queries.metrics(days=1)["total_requests"] == 43
    health = health_summary()
    assert health["status"] == "healthy" and health["reasons"] == [] and health["stale"] is False
    assert metrics_core.pick_provider()["stale"] is False


def test_reads_see_their_own_writes_when_the_flush_succeeds(metrics_db, monkeypatch):
    monkeypatch.setenv("LLM_METRICS_FLUSH_INTERVAL", "60")  # only the read's flush writes them
    recording.reset()
    _record(25)
    assert recording.stats()["queued"] == 25
    assert queries.metrics(days=1)["total_requests"] == 25
    assert metrics_core.pick_provider()["pending_records"] == 0


@pytest.mark.postgresql_only
def test_reads_answer_at_once_while_a_postgresql_lock_blocks_the_writer(metrics_db):
    """Another session holds an EXCLUSIVE lock on llm_requests (reads pass, writes wait inside the
    server): after the writer has been stuck for a while, reads stop waiting for it."""
    from sqlalchemy import create_engine

    _record(3)
    assert metrics_core.flush(10)
    locker = create_engine(metrics_db).connect()
    transaction = locker.begin()
    locker.exec_driver_sql("LOCK TABLE llm_requests IN EXCLUSIVE MODE")
    try:
        _record(40)
        time.sleep(3)  # the writer's COPY has been waiting on the lock for longer than STALLED_WRITE_AFTER
        picked, t_pick = _timed(metrics_core.pick_provider)
        health, t_health = _timed(health_summary)
        usage, t_usage = _timed(queries.metrics, days=1)
        assert t_pick < 2 and t_health < 2 and t_usage < 2
        assert picked["stale"] is True and picked["pending_records"] == 40
        assert usage["total_requests"] == 3
        assert health["status"] == "degraded" and health["pending_records"] == 40
    finally:
        transaction.rollback()
        locker.close()
    assert metrics_core.flush(60)
    assert queries.metrics(days=1)["total_requests"] == 43
    assert health_summary()["stale"] is False
