"""Fresh-database fixtures: every test runs once per backend, each time on a database of its own.

``metrics_db`` (autouse) is the URL of that database, also set as ``LLM_METRICS_DB_URL``:

- ``sqlite``: a new file in the test's tmp_path;
- ``postgresql``: a new, empty database on the session's throwaway server (tests/pg_server.py);
  a background thread creates them ahead of the tests and drops used ones, so a test waits for
  neither. Like the SQLite file, it is migrated on first use (``storage.get_engine``), about 0.15 s.

Mark a test (or a module, with ``pytestmark``) ``sqlite_only`` when it is inherently about SQLite
(file paths, WAL) or touches no database; ``postgresql_only`` when it is about PostgreSQL.
``LLM_METRICS_TEST_BACKENDS=sqlite`` (or ``postgresql``) runs one backend only, for quick iterations.
Without PostgreSQL binaries the PostgreSQL variants are skipped (and fail in CI).
"""

from __future__ import annotations

import itertools
import os
import queue
import threading
from datetime import UTC, datetime

import pytest
from pg_server import pg_url_fixture  # noqa: F401  (provides the session-wide ``pg_url``)

from metrics_core import recording, storage

BACKENDS = ("sqlite", "postgresql")
ENV_BACKENDS = "LLM_METRICS_TEST_BACKENDS"
_counter = itertools.count(1)


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "sqlite_only: run on the SQLite backend only (file paths, WAL, no database)")
    config.addinivalue_line("markers", "postgresql_only: run on the PostgreSQL backend only")


def _chosen_backends() -> list[str]:
    raw = os.environ.get(ENV_BACKENDS, "")
    chosen = [b.strip() for b in raw.split(",") if b.strip()] or list(BACKENDS)
    unknown = sorted(set(chosen) - set(BACKENDS))
    if unknown:
        raise pytest.UsageError(f"{ENV_BACKENDS}: unknown backend(s) {unknown}; choose from {list(BACKENDS)}")
    return chosen


def pytest_generate_tests(metafunc) -> None:
    if "metrics_db" not in metafunc.fixturenames:
        return
    backends = _chosen_backends()
    only = [b for b in BACKENDS if metafunc.definition.get_closest_marker(f"{b}_only")]
    if only:
        chosen = [b for b in backends if b in only]
        if not chosen:  # e.g. a postgresql_only test while LLM_METRICS_TEST_BACKENDS=sqlite
            skip = pytest.mark.skip(reason=f"{only[0]} only; {ENV_BACKENDS}={','.join(backends)}")
            metafunc.parametrize("metrics_db", [pytest.param(only[0], marks=skip)], indirect=True)
            return
        backends = chosen
    metafunc.parametrize("metrics_db", backends, indirect=True, scope="function")


def _forget_state() -> None:
    recording.reset(flush_first=False)
    storage.dispose_all()


class PgDatabases:
    """Per-test databases on the session's server.

    ``CREATE DATABASE`` takes a couple of hundred milliseconds here, so a background thread keeps
    ``READY`` empty databases made ahead and drops used ones, off the tests' path.
    """

    READY = 2

    def __init__(self, admin_url: str) -> None:
        from sqlalchemy.engine import make_url

        self.url = make_url(admin_url)
        self.conn = self._connect()  # the main thread's
        self.ready: queue.Queue = queue.Queue()
        self.jobs: queue.Queue = queue.Queue()
        self.worker = threading.Thread(target=self._work, args=(self._connect(),), daemon=True)
        self.worker.start()
        for _ in range(self.READY):
            self.jobs.put(("create", None))

    def _connect(self):
        import psycopg

        u = self.url
        return psycopg.connect(
            host=u.host, port=u.port, user=u.username, password=u.password, dbname=u.database, autocommit=True
        )

    def _work(self, conn) -> None:
        while True:
            job, name = self.jobs.get()
            try:
                if job == "stop":
                    return
                if job == "create":
                    name = f"llm_metrics_t{os.getpid()}_{next(_counter)}"
                    conn.execute(f'CREATE DATABASE "{name}"')
                    self.ready.put(name)
                else:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            except Exception as exc:  # handed to the test that waits for a database
                if job == "create":
                    self.ready.put(exc)
            finally:
                self.jobs.task_done()

    def url_of(self, database: str) -> str:
        return self.url.set(database=database).render_as_string(hide_password=False)

    def fresh(self) -> str:
        """The name of a new, empty database (made ahead by the worker)."""
        self.jobs.put(("create", None))
        name = self.ready.get(timeout=120)
        if isinstance(name, Exception):
            raise name
        return name

    def release(self, name: str) -> None:
        """Drop a test's database in the background."""
        self.jobs.put(("drop", name))

    def drop(self, name: str) -> None:
        self.conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        self.jobs.put(("stop", None))
        self.worker.join(60)
        while not self.ready.empty():
            name = self.ready.get()
            if isinstance(name, str):
                self.drop(name)
        self.conn.close()


@pytest.fixture(scope="session")
def pg_databases(pg_url) -> PgDatabases:
    """The session's PostgreSQL server, handing out a new database per test."""
    databases = PgDatabases(pg_url)
    yield databases
    databases.close()


@pytest.fixture(autouse=True)
def metrics_db(request, tmp_path, monkeypatch) -> str:
    """The URL of a fresh database (SQLite or PostgreSQL), set as LLM_METRICS_DB_URL for the test."""
    backend = getattr(request, "param", "sqlite")
    for name in list(os.environ):
        if name.startswith("LLM_METRICS_") and not name.startswith("LLM_METRICS_TEST_"):
            monkeypatch.delenv(name)
    _forget_state()
    pg = name = None
    if backend == "postgresql":
        pg = request.getfixturevalue("pg_databases")
        name = pg.fresh()
        url = pg.url_of(name)
    else:
        url = f"sqlite:///{tmp_path / 'metrics.db'}"
    monkeypatch.setenv("LLM_METRICS_DB_URL", url)
    yield url
    recording.reset()
    storage.dispose_all()
    if pg is not None:
        pg.release(name)


@pytest.fixture
def backend(metrics_db) -> str:
    """``sqlite`` or ``postgresql``: the backend of this test's database."""
    return "postgresql" if metrics_db.startswith("postgresql") else "sqlite"


@pytest.fixture
def engine(metrics_db):
    return storage.get_engine(metrics_db)


@pytest.fixture
def now() -> datetime:
    return datetime.now(UTC)
