"""Helpers for the analysis notebooks in ``notebooks/``."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from . import demo, storage


def open_database(*, days: int = 45, per_day: int = 300, seed: int = 42):
    """The engine of ``$LLM_METRICS_DB_URL``; without it, a fresh demo database (``demo.load`` into a
    temporary SQLite file, then set as ``LLM_METRICS_DB_URL`` for this process)."""
    url = os.environ.get("LLM_METRICS_DB_URL")
    if url:
        return storage.get_engine(url)
    path = Path(tempfile.mkdtemp(prefix="llm-metrics-notebook-")) / "demo.db"
    url = f"sqlite:///{path}"
    os.environ["LLM_METRICS_DB_URL"] = url
    engine = storage.get_engine(url)
    demo.load(engine, days=days, per_day=per_day, seed=seed)
    return engine


def describe(engine) -> str:
    """Which database a notebook reads, without its password."""
    return engine.url.render_as_string(hide_password=True)
