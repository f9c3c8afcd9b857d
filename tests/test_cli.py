"""The `llm-metrics` command line, run as a user would (a real process)."""

import os
import subprocess
import sys

import pytest

from metrics_core import queries, record_request
from metrics_core.storage.migrations import head_revision


def cli(*args, cwd=None, env=None):
    return subprocess.run(
        [sys.executable, "-m", "metrics_core", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def test_migrate_prints_every_table_with_its_row_count(tmp_path):
    env = {"LLM_METRICS_DB_URL": ""}  # the default: data/metrics.db under the working directory
    first = cli("migrate", cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stderr
    assert f"✓ Migration applied successfully (empty -> {head_revision()})" in first.stdout
    assert "  - llm_providers (4 rows)" in first.stdout
    assert "  - llm_provider_health (4 rows)" in first.stdout
    assert "  - llm_requests (0 rows)" in first.stdout
    assert "  - llm_costs_daily (0 rows)" in first.stdout
    assert (tmp_path / "data" / "metrics.db").exists()
    again = cli("migrate", cwd=tmp_path, env=env)
    assert again.returncode == 0 and f"✓ Schema is up to date (revision {head_revision()})" in again.stdout


def test_demo_summary_and_refusal_to_mix_demo_into_real_data(metrics_db):
    out = cli("demo", "--days", "10", "--per-day", "50")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("✓ Wrote ")
    n = int(out.stdout.split()[2])
    assert queries.request_count() == n
    again = cli("demo", "--days", "2")
    assert again.returncode == 1 and "already holds" in again.stderr
    summary = cli("summary", "--days", "10")
    assert "Total Requests:" in summary.stdout and "Savings:" in summary.stdout


def test_providers_enable_disable_priority_and_reset(metrics_db):
    out = cli("providers", "disable", "claude")
    assert out.returncode == 0
    line = next(line for line in out.stdout.splitlines() if " claude " in line)
    assert "False" in line
    out = cli("providers", "priority", "openai", "1")
    assert out.returncode == 0
    assert next(line for line in out.stdout.splitlines() if " openai " in line).split()[3] == "1"
    bad = cli("reset-circuit", "nope")
    assert bad.returncode == 1
    assert "no provider with id or name 'nope'; known providers:" in bad.stderr
    ok = cli("reset-circuit", "1")
    assert ok.returncode == 0 and "Ollama (Local): circuit closed" in ok.stdout


def test_price_override_then_reprice(metrics_db):
    record_request(
        provider_name="openai", model="acme-ft", status="success", prompt_tokens=1_000_000, completion_tokens=1_000_000
    )
    assert queries.cost_summary(1)["unpriced_requests"] == 1
    out = cli("price", "set", "--model", "acme-ft", "--provider", "openai", "--input", "0.5", "--output", "1.5")
    assert out.returncode == 0, out.stderr
    out = cli("reprice")
    assert out.returncode == 0 and "1 changed" in out.stdout
    summary = queries.cost_summary(1)
    assert (summary["unpriced_requests"], summary["total_cost_usd"]) == (0, 2)
    listing = cli("price", "list")
    assert "acme-ft" in listing.stdout and "$0.5000/M" in listing.stdout


def test_price_show_and_unknown_model():
    out = cli("price", "show", "--provider", "claude", "--model", "claude-sonnet-4-5")
    assert out.returncode == 0
    assert "input        $3.0000" in out.stdout and "output       $15.0000" in out.stdout
    missing = cli("price", "show", "--provider", "claude", "--model", "claude-nope")
    assert missing.returncode == 1 and "unpriced" in missing.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["demo", "--days", "0"], "expected a number >= 1"),
        (["reprice", "--start", "yesterday"], "expected a date as YYYY-MM-DD"),
        (["price", "set", "--model", "x"], "needs --input and --output"),
    ],
)
def test_bad_arguments_get_a_clear_message(args, message):
    out = cli(*args)
    assert out.returncode != 0 and message in out.stderr


@pytest.mark.sqlite_only  # about SQLite file paths
def test_unopenable_database_is_a_clear_error(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    out = cli("summary", env={"LLM_METRICS_DB_URL": f"sqlite:///{tmp_path}/file/metrics.db"})
    assert out.returncode == 1
    assert out.stderr.startswith("error: ") and "Traceback" not in out.stderr


def test_health_exit_code(metrics_db):
    out = cli("health")
    assert out.returncode == 0 and '"status": "healthy"' in out.stdout
