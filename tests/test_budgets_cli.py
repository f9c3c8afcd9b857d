"""`llm-metrics budget` and `llm-metrics alerts`, run as a user would (a real process)."""

import os
import subprocess
import sys

from test_alerts import Receiver

from metrics_core import budgets, flush, record_request


def cli(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "metrics_core", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "NO_PROXY": "127.0.0.1,localhost", **(env or {})},
        timeout=120,
    )


def test_budget_set_list_delete(engine):
    out = cli("budget", "set", "claude-cap", "--amount", "0.02", "--provider", "claude", "--hard")
    assert out.returncode == 0, out.stderr
    assert "✓ Budget 'claude-cap': $0.02 monthly, scope provider:claude, hard, thresholds 50%, 80%, 100%" in out.stdout
    assert cli("budget", "set", "s", "--amount", "5", "--tag", "project=search", "--period", "weekly").returncode == 0
    for _ in range(2):
        record_request(
            provider_name="claude",
            model="claude-sonnet-4-5",
            status="success",
            prompt_tokens=1000,
            completion_tokens=500,
        )
    flush()
    listed = cli("budget", "list")
    assert listed.returncode == 0
    line = next(ln for ln in listed.stdout.splitlines() if ln.startswith("claude-cap"))
    assert "provider:claude" in line and "hard" in line and "105.0%" in line and line.endswith("over")
    assert "tag:project=search" in listed.stdout
    assert cli("budget", "delete", "s").returncode == 0
    missing = cli("budget", "delete", "s")
    assert missing.returncode == 1 and "error: no budget named 's'" in missing.stderr
    assert [b.name for b in budgets.list_budgets()] == ["claude-cap"]


def test_bad_budget_is_one_error_line(engine):
    out = cli("budget", "set", "x", "--amount", "-3")
    assert out.returncode == 1 and out.stderr.startswith("error: amount_usd must be a finite number > 0")
    both = cli("budget", "set", "x", "--amount", "3", "--provider", "a", "--model", "b")
    assert both.returncode == 2 and "not allowed with argument" in both.stderr


def test_alerts_check_sends_once_then_history(engine):
    receiver = Receiver()
    try:
        budgets.set_budget(name="cap", amount_usd="0.01", thresholds="100")
        record_request(
            provider_name="claude",
            model="claude-sonnet-4-5",
            status="success",
            prompt_tokens=1000,
            completion_tokens=500,
        )
        flush()
        env = {"LLM_METRICS_ALERT_URLS": receiver.url, "LLM_METRICS_ALERT_INTERVAL": "0"}
        dry = cli("alerts", "check", "--dry-run", env=env)
        assert dry.returncode == 0 and "[budget_threshold] Budget 'cap' reached 100%" in dry.stdout
        assert receiver.bodies == []
        first = cli("alerts", "check", env=env)
        assert first.returncode == 0, first.stderr
        assert "1 new alert(s), 1 delivered to 1 channel(s), 0 channel failure(s)" in first.stdout
        second = cli("alerts", "check", env=env)
        assert "0 new alert(s)" in second.stdout
        assert len(receiver.bodies) == 1
        history = cli("alerts", "history")
        assert "budget_threshold  sent" in history.stdout
        test = cli("alerts", "test", env=env)
        assert test.returncode == 0 and test.stdout.startswith("✓ json://127.0.0.1")
        assert receiver.bodies[-1]["title"] == "llm-metrics test alert"
    finally:
        receiver.close()


def test_alerts_check_exits_1_when_a_channel_fails(engine, tmp_path):
    receiver = Receiver(fail_first=100)
    try:
        config = tmp_path / "alerts.toml"
        config.write_text(f'urls = ["{receiver.url}"]\nretries = 2\nbackoff_seconds = 0.01\n')
        budgets.set_budget(name="cap", amount_usd="0.01", thresholds="100")
        record_request(
            provider_name="claude",
            model="claude-sonnet-4-5",
            status="success",
            prompt_tokens=1000,
            completion_tokens=500,
        )
        flush()
        out = cli("alerts", "check", "--config", str(config), env={"LLM_METRICS_ALERT_INTERVAL": "0"})
        assert out.returncode == 1
        assert "✗ json://127.0.0.1" in out.stderr and "1 channel failure(s)" in out.stdout
        assert receiver.requests == 2
    finally:
        receiver.close()
