"""Alembic migrations shipped inside the package, and the helpers that run them."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Engine

from ...errors import DatabaseUnavailable, SchemaTooNew

HERE = Path(__file__).parent


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    # ConfigParser interpolates '%': URL-encoded passwords and options (%40, %3D) need it doubled
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return cfg


def head_revision() -> str:
    return ScriptDirectory(str(HERE)).get_current_head()


def current_revision(connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Bring the schema to the newest revision; returns (revision before, revision after).

    Safe to run any number of times, and from several processes at once: the upgrade runs inside
    one transaction that holds the database's write lock (SQLite) or an advisory lock (PostgreSQL).
    """
    script = ScriptDirectory(str(HERE))
    head = script.get_current_head()
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(immediate=True)
            with conn.begin():
                if conn.dialect.name == "postgresql":
                    conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7243513)")
                before = current_revision(conn)
                if before is not None and not _known(script, before):
                    raise SchemaTooNew(
                        f"the database is at schema revision {before!r}, which this version of "
                        f"llm-metrics does not know (newest known: {head!r}); upgrade llm-metrics"
                    )
                if before != head:
                    cfg = alembic_config(engine)
                    cfg.attributes["connection"] = conn
                    command.upgrade(cfg, "head")
    except SchemaTooNew:
        raise
    except Exception as exc:
        if _is_operational(exc):
            raise DatabaseUnavailable(
                f"cannot open the metrics database {engine.url.render_as_string(hide_password=True)}: {exc}"
            ) from exc
        raise
    return before, head


def _known(script: ScriptDirectory, revision: str) -> bool:
    try:
        return script.get_revision(revision) is not None
    except Exception:
        return False


def _is_operational(exc: Exception) -> bool:
    from sqlalchemy.exc import DatabaseError, InterfaceError, OperationalError

    # a bare DatabaseError is SQLite's "file is not a database" / "database disk image is malformed";
    # its subclasses (IntegrityError, ProgrammingError, ...) are not about opening the database
    return isinstance(exc, (OperationalError, InterfaceError)) or type(exc) is DatabaseError


def ensure_schema(engine: Engine) -> None:
    """Upgrade the schema if it is behind; refuse a database from a newer llm-metrics."""
    upgrade(engine)


def table_counts(engine: Engine) -> list[tuple[str, int]]:
    """Every table of the database with its row count, sorted by name (for ``migrate``'s report)."""
    from sqlalchemy import func, select, table

    names = sorted(n for n in inspect(engine).get_table_names() if n != "alembic_version")
    with engine.connect() as conn:
        return [(n, conn.execute(select(func.count()).select_from(table(n))).scalar_one()) for n in names]
