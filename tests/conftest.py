"""Fresh-database fixtures: every test gets its own SQLite file, named by LLM_METRICS_DB_URL."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest

from metrics_core import db, recorder


def _forget_state() -> None:
    recorder.reset(flush_first=False)
    db.dispose_all()


@pytest.fixture(autouse=True)
def metrics_db(tmp_path, monkeypatch) -> str:
    """The URL of a fresh SQLite database, set as LLM_METRICS_DB_URL for the test."""
    for name in list(os.environ):
        if name.startswith("LLM_METRICS_"):
            monkeypatch.delenv(name)
    url = f"sqlite:///{tmp_path / 'metrics.db'}"
    monkeypatch.setenv("LLM_METRICS_DB_URL", url)
    _forget_state()
    yield url
    recorder.reset()
    db.dispose_all()


@pytest.fixture
def engine(metrics_db):
    return db.get_engine(metrics_db)


@pytest.fixture
def now() -> datetime:
    return datetime.now(UTC)
