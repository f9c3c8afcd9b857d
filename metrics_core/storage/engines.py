"""Engines: one shared engine per database URL per process, schema ensured on first use.

SQLite engines use WAL, a 30 s busy timeout and ``BEGIN IMMEDIATE`` for writers that read first
(``execution_options(immediate=True)``); PostgreSQL engines a bounded pool. After ``fork()`` a child
never shares (or closes) its parent's connections.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url

from ..config import settings
from ..errors import DatabaseUnavailable

_engines: dict[str, Engine] = {}
_engines_pid = os.getpid()
_lock = threading.Lock()
_inherited: list[Engine] = []  # a forked child's copies of its parent's engines


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # another thread may have held it when the process forked


os.register_at_fork(after_in_child=_after_fork_in_child)


def _prepare_sqlite_path(url) -> None:
    database = url.database
    if database and database != ":memory:" and not database.startswith("file:"):
        folder = Path(database).expanduser().parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseUnavailable(
                f"cannot create the folder {str(folder)!r} for the SQLite database: {exc}"
            ) from exc


def require_sqlite_folder(url: str) -> None:
    """For commands that only read: a SQLite URL whose folder does not exist is an error (naming the
    path and how to create it), never a new folder with an empty database that reads as zeros."""
    parsed = make_url(url)
    database = parsed.database if parsed.get_backend_name() == "sqlite" else None
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    folder = Path(database).expanduser().parent
    if not folder.is_dir():
        raise DatabaseUnavailable(
            f"no SQLite database at {database!r}: the folder {str(folder)!r} does not exist. Check --db or "
            "LLM_METRICS_DB_URL, or create the database with `llm-metrics migrate`"
        )


def create(url: str) -> Engine:
    """Create a new engine for ``url`` with the settings this tool needs (SQLite: WAL, busy timeout)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        cfg = settings()
        connect_args = {}
        if parsed.get_backend_name() == "postgresql" and "application_name" not in parsed.query:
            connect_args["application_name"] = "llm-metrics"  # shows in pg_stat_activity
        return create_engine(
            parsed,
            pool_pre_ping=True,
            pool_size=cfg.db_pool_size,
            max_overflow=cfg.db_max_overflow,
            pool_recycle=1800,
            connect_args=connect_args,
        )
    _prepare_sqlite_path(parsed)
    engine = create_engine(parsed, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        # Writers that read first take the lock up front: a deferred transaction that reads and
        # then writes fails with "database is locked" under contention whatever the busy timeout.
        immediate = conn.get_execution_options().get("immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def get_engine(url: str | None = None) -> Engine:
    """The shared engine for ``url`` (default: ``$LLM_METRICS_DB_URL``), schema ensured."""
    global _engines_pid
    url = url or settings().db_url
    with _lock:
        if _engines_pid != os.getpid():  # after fork: never share connections with the parent
            # ...nor close them: closing an inherited SQLite connection touches the parent's locks
            # and WAL state, so the child keeps those objects, unused, until it exits
            _inherited.extend(_engines.values())
            _engines.clear()
            _engines_pid = os.getpid()
        engine = _engines.get(url)
        if engine is None:
            engine = create(url)
            from .migrations import ensure_schema

            ensure_schema(engine)
            _engines[url] = engine
        return engine


def dispose_all() -> None:
    """Close every cached engine (tests, and processes that switch databases)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def db_label(url: str) -> str:
    """``url`` with its password hidden (for logs and messages)."""
    return make_url(url).render_as_string(hide_password=True)
