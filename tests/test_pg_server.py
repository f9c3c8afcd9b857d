"""Tests for the throwaway PostgreSQL server helper."""

import os

import pytest
import sqlalchemy as sa
from pg_server import (  # noqa: F401  (pg_url_fixture provides ``pg_url``)
    ENV_URL,
    PgBinariesMissing,
    find_bindir,
    pg_url_fixture,
    skip_or_fail,
    start_postgres,
)
from sqlalchemy.dialects.postgresql import insert

pytestmark = pytest.mark.sqlite_only  # these manage their own servers: once is enough


def test_version_matches_installed_major(pg_url):
    """The server answers ``select version()`` with the installed major."""
    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        version = conn.execute(sa.text("select version()")).scalar_one()
    engine.dispose()
    assert version.startswith("PostgreSQL ")
    if not os.environ.get(ENV_URL):
        major = find_bindir().parent.name
        assert version.startswith(f"PostgreSQL {major}."), version


def test_upsert_roundtrip(pg_url):
    """SQLAlchemy 2 + psycopg 3: create table, INSERT .. ON CONFLICT DO UPDATE."""
    engine = sa.create_engine(pg_url)
    table = sa.Table(
        "pg_server_upsert",
        sa.MetaData(),
        sa.Column("key", sa.String, primary_key=True),
        sa.Column("value", sa.Integer, nullable=False),
    )
    table.drop(engine, checkfirst=True)
    table.create(engine)
    with engine.begin() as conn:
        for value in (1, 2):
            stmt = insert(table).values(key="a", value=value)
            conn.execute(stmt.on_conflict_do_update(index_elements=["key"], set_={"value": stmt.excluded.value}))
    with engine.connect() as conn:
        rows = conn.execute(sa.select(table.c.key, table.c.value)).all()
    table.drop(engine)
    engine.dispose()
    assert [tuple(r) for r in rows] == [("a", 2)]


def test_stop_is_idempotent_and_cleans_up(monkeypatch):
    """stop() may be called twice and removes the temp folder."""
    monkeypatch.delenv(ENV_URL, raising=False)
    try:
        find_bindir()
    except PgBinariesMissing as exc:
        skip_or_fail(str(exc))
    url, stop = start_postgres()
    assert url.startswith("postgresql+psycopg://postgres@127.0.0.1:")
    folder = stop.folder
    assert (folder / "data" / "postmaster.pid").exists()
    stop()
    stop()
    assert not folder.exists()
    engine = sa.create_engine(url, connect_args={"connect_timeout": 2})
    with pytest.raises(sa.exc.OperationalError):
        engine.connect()
    engine.dispose()
