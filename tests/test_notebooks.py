"""Every notebook in notebooks/ runs top to bottom (nbclient, the venv's python3 kernel) and is stored
without outputs."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from sqlalchemy.engine import make_url

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
ROOT = Path(__file__).resolve().parents[1]


def execute(path: Path, cwd: Path) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}).execute()
    return nb


def test_there_are_notebooks():
    assert {p.stem for p in NOTEBOOKS} >= {"cost_analysis", "latency", "reliability"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_on_a_fresh_demo_database(path, monkeypatch, tmp_path):
    monkeypatch.delenv("LLM_METRICS_DB_URL")  # the notebook falls back to a fresh demo database
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    nb = execute(path, tmp_path)
    first = next(c for c in nb.cells if c.cell_type == "code")
    assert "llm-metrics-notebook-" in "".join(o.get("text", "") for o in first.outputs)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors


def test_a_notebook_reads_llm_metrics_db_url(metrics_db, engine, monkeypatch, tmp_path):
    from metrics_core import demo

    demo.load(engine, days=10, per_day=50)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    nb = execute(next(p for p in NOTEBOOKS if p.stem == "cost_analysis"), tmp_path)
    first = next(c for c in nb.cells if c.cell_type == "code")
    database = make_url(metrics_db).database  # the SQLite file, or the PostgreSQL database name
    assert database in "".join(o.get("text", "") for o in first.outputs)
