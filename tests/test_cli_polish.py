"""The command line as a new user meets it: every error line starts with ``error:``, a read command on a
folder that does not exist fails clearly (and creates nothing), money aligns and JSON money is short."""

import json
import os
import re
import subprocess
import sys
from decimal import Decimal

import pytest

from metrics_core import budgets, flush, record_request


def cli(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "metrics_core", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


@pytest.mark.parametrize(
    "args",
    [
        ["budget", "delete", "nosuch"],
        ["price", "show", "--provider", "claude", "--model", "claude-nope"],
        ["price", "delete", "--model", "nosuch"],
        ["providers", "enable"],
        ["price", "show", "--model", "x"],
    ],
    ids=["budget-delete", "price-show-unknown", "price-delete", "providers-no-name", "price-show-no-provider"],
)
def test_every_error_line_starts_with_error(engine, args):
    out = cli(*args)
    assert out.returncode != 0
    assert out.stderr.splitlines() and all(line.startswith("error: ") for line in out.stderr.splitlines())


def test_demo_on_a_database_with_calls_is_an_error_line(engine):
    record_request(provider_name="ollama", model="llama3.2", status="success", sync=True)
    out = cli("demo", "--days", "2")
    assert out.returncode == 1
    assert out.stderr == "error: the database already holds 1 call; add --force to add demo data anyway\n"


@pytest.mark.sqlite_only  # about SQLite file paths
def test_a_read_command_on_a_missing_folder_fails_and_creates_nothing(tmp_path):
    url = f"sqlite:///{tmp_path}/nonexistent/dir/x.db"
    for args in (["summary"], ["budget", "list"], ["providers"]):
        out = cli("--db", url, *args)
        assert out.returncode == 1, args
        assert out.stderr.startswith(f"error: no SQLite database at '{tmp_path}/nonexistent/dir/x.db'")
        assert "llm-metrics migrate" in out.stderr and out.stdout == ""
    assert not (tmp_path / "nonexistent").exists()
    assert cli("--db", url, "migrate").returncode == 0  # migrate may create it
    assert (tmp_path / "nonexistent" / "dir" / "x.db").exists()


def test_providers_local_says_stored_costs_change_after_reprice(engine):
    out = cli("providers", "local", "claude")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] == (
        "✓ Claude (Anthropic) is local now: new calls are priced as local (free). Costs already stored change "
        "only after `llm-metrics reprice` (e.g. `llm-metrics reprice --start YYYY-MM-DD`)."
    )


def test_budget_list_aligns_money_and_json_keeps_ten_places(engine):
    budgets.set_budget(name="big", amount_usd="1500")
    budgets.set_budget(name="small", amount_usd="0.005")
    record_request(
        provider_name="claude", model="claude-sonnet-4-5", status="success", prompt_tokens=1, completion_tokens=1
    )  # $0.000018
    flush()
    out = cli("budget", "list")
    assert out.returncode == 0, out.stderr
    lines = {line.split()[0]: line for line in out.stdout.splitlines()[1:]}
    big, small = lines["big"], lines["small"]
    assert "$1,500.0000" in big and "$0.0050" in small  # one precision per column, points aligned
    assert big.index("$1,500.0000") + len("$1,500.0000") == small.index("$0.0050") + len("$0.0050")
    assert big.index(".0000") == small.index(".0050")
    assert "$0.000018" in big and "$0.000018" in small
    rows = json.loads(cli("budget", "list", "--json").stdout)
    spent = next(r["spent_usd"] for r in rows if r["name"] == "big")
    assert Decimal(str(spent)) == Decimal("0.000018")
    places = [len(d) for d in re.findall(r": -?\d+\.(\d+)", cli("budget", "list", "--json").stdout)]
    assert places and max(places) <= 10


def test_progress_bars_stay_quiet_when_piped(engine):
    out = cli("demo", "--days", "2", "--per-day", "20")  # stderr is a pipe here, not a terminal
    assert out.returncode == 0 and out.stderr == ""
    out = cli("reprice")
    assert out.returncode == 0 and out.stderr == ""
