"""The writer on PostgreSQL: the same rows and rollups as on SQLite, and a server that goes away
(its connections killed, new ones refused) costs nothing once it is back."""

from __future__ import annotations

import time
import uuid

import pytest
import sqlalchemy as sa
from pg_server import pg_url_fixture  # noqa: F401  (provides ``pg_url``)

import metrics_core
from metrics_core import recording, storage

pytestmark = pytest.mark.postgresql_only  # these make their own PostgreSQL databases


@pytest.fixture
def pg_db(pg_url, monkeypatch):
    name = f"recorder_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = pg_url.rsplit("/", 1)[0] + f"/{name}"
    monkeypatch.setenv("LLM_METRICS_DB_URL", url)
    recording.reset(flush_first=False)
    storage.dispose_all()
    yield name, url, admin
    recording.reset(flush_first=False)
    storage.dispose_all()
    with admin.connect() as conn:
        conn.exec_driver_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def _record(n: int, **kw) -> None:
    for i in range(n):
        metrics_core.record_request(
            provider_name=kw.get("provider", "claude"),
            model="claude-sonnet-4-5",
            status="success" if i % 4 else "failed",
            prompt_tokens=100 + i,
            completion_tokens=10,
            duration_seconds=0.25 + i / 1000,
            tags={"k": str(i % 3)} if i % 2 else None,
        )


def _totals(engine) -> tuple:
    with engine.connect() as conn:
        raw = conn.exec_driver_sql(
            "SELECT count(*), sum(prompt_tokens), sum(cost_usd), sum(duration_ms) FROM llm_requests"
        ).one()
        rolled = conn.exec_driver_sql(
            "SELECT sum(requests), sum(prompt_tokens), sum(cost_usd), sum(duration_sum_ms) FROM llm_costs_daily"
        ).one()
    return tuple(raw), tuple(rolled)


def test_writer_on_postgres_keeps_rollups_in_step(pg_db):
    _name, url, _admin = pg_db
    _record(300, provider="acme")  # a provider registered by the writer
    _record(300)
    assert metrics_core.flush(30)
    raw, rolled = _totals(storage.get_engine(url))
    assert raw[0] == rolled[0] == 600
    assert raw[1] == rolled[1]
    assert raw[2] == rolled[2]  # NUMERIC: exact
    assert float(raw[3]) == pytest.approx(float(rolled[3]))


def test_server_gone_then_back(pg_db):
    """The writer's connections are killed and the database refuses new ones: nothing raises, the
    records wait, and they arrive once connections are allowed again."""
    name, url, admin = pg_db
    _record(10)
    assert metrics_core.flush(30)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        conn.exec_driver_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        )
    started = time.monotonic()
    _record(200)
    assert time.monotonic() - started < 1.0
    assert not metrics_core.flush(2.0)
    stats = recording.stats()
    assert stats["queued"] == 200 and stats["write_errors"] > 0
    with admin.connect() as conn:
        conn.exec_driver_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    assert metrics_core.flush(30)
    assert recording.stats()["dropped"] == 0
    raw, rolled = _totals(storage.get_engine(url))
    assert raw[0] == rolled[0] == 210
