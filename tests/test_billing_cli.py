"""``llm-metrics reconcile`` against a local HTTP server serving the providers' real-shaped report pages."""

from __future__ import annotations

import json
import signal
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from test_billing_clients import ANTHROPIC_SECRET, OPENAI_SECRET, page_for
from test_billing_reconcile import recorded  # noqa: F401  (the recorded calls of the fixture)

from metrics_core.cli.main import main

NOW = datetime(2026, 11, 5, 9, 30, tzinfo=UTC)  # --days 3 = 2026-11-02 .. 2026-11-04


class ProviderServer(BaseHTTPRequestHandler):
    """Both providers' report endpoints; 401 without the right key; ``fail_first`` answers first."""

    paths: ClassVar[list[str]] = []
    fail_first: ClassVar[list[tuple[int, dict[str, str], bytes]]] = []
    delay: ClassVar[float] = 0.0

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        self.paths.append(url.path)
        time.sleep(self.delay)
        openai = url.path.startswith("/v1/organization/")
        authorized = (
            self.headers.get("authorization") == f"Bearer {OPENAI_SECRET}"
            if openai
            else self.headers.get("x-api-key") == ANTHROPIC_SECRET
        )
        headers: dict[str, str] = {}
        if self.fail_first:
            status, headers, body = self.fail_first.pop(0)
        elif not authorized:
            status, body = 401, b'{"error":{"message":"Incorrect API key provided","type":"invalid_request_error"}}'
        else:
            status, body = 200, page_for(url.path, parse_qs(url.query))
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        pass  # a client that timed out closed its socket: the late answer's broken pipe is expected


@pytest.fixture
def server():
    ProviderServer.paths, ProviderServer.fail_first, ProviderServer.delay = [], [], 0.0
    httpd = QuietServer(("127.0.0.1", 0), ProviderServer)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


@pytest.fixture
def keys(monkeypatch):
    monkeypatch.setenv("OPENAI_ADMIN_KEY", OPENAI_SECRET)
    monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", ANTHROPIC_SECRET)


def reconcile(server: str, *args: str) -> int:
    sigpipe = signal.getsignal(signal.SIGPIPE)  # main() restores the default, which would kill pytest
    try:
        with time_machine.travel(NOW, tick=True):
            return main(["reconcile", "--days", "3", "--base-url", server, *args])
    finally:
        signal.signal(signal.SIGPIPE, sigpipe)


def test_json_output_for_scripts(recorded, server, keys, capsys) -> None:  # noqa: F811
    assert reconcile(server, "--provider", "openai", "--json") == 0
    out, err = capsys.readouterr()
    assert err == ""  # piped: no progress bar
    data = json.loads(out)
    assert data["pull"] == {
        "provider": "openai",
        "first_day": "2026-11-02",
        "last_day": "2026-11-04",
        "days": 3,
        "model_rows": 3,
        "other_rows": 2,
        "unmatched_models": [],
    }
    (overall,) = data["providers"]
    assert (overall["recorded_tokens"], overall["billed_tokens"]) == (515_000, 790_000)
    assert (overall["recorded_cost_usd"], overall["billed_cost_usd"]) == (1.09875, 0.9929)
    assert overall["coverage_pct"] == 65.189873
    assert overall["drift_pct"] == 10.660691
    assert [(g["day"], g["model"], g["drift_pct"], g["coverage_pct"]) for g in data["largest_gaps"]] == [
        ("2026-11-02", "gpt-4o", 20.0, 100.0),
        ("2026-11-03", "gpt-4o", 20.0, 100.0),
        ("2026-11-02", "gpt-4o-mini", -50.0, 50.0),
    ]
    assert OPENAI_SECRET not in out
    assert ProviderServer.paths == [
        "/v1/organization/usage/completions",
        "/v1/organization/usage/completions",
        "/v1/organization/costs",
        "/v1/organization/costs",
    ]


def test_text_output_and_stored_figures_without_pulling(recorded, server, keys, capsys) -> None:  # noqa: F811
    assert reconcile(server, "--provider", "anthropic") == 0
    out = capsys.readouterr().out
    assert "✓ Pulled anthropic billing for 2026-11-02 to 2026-11-04 (3 days): 3 model rows, 1 other line items" in out
    assert "recorded $0.4685 vs billed $3.21 (drift -85.4%); tokens 335,445 of 1,634,345 (coverage 20.5%)" in out
    assert "Billed outside any model (tool fees, models without usage): $1.00" in out
    assert "2026-11-02  claude-sonnet-4-5                 $0.00      $1.75      0.0%  -100.0%" in out
    assert "Coverage = recorded tokens / billed tokens" in out

    ProviderServer.paths = []
    assert reconcile(server, "--provider", "anthropic", "--stored") == 0
    assert ProviderServer.paths == []
    assert "tokens 335,445 of 1,634,345" in capsys.readouterr().out


def test_a_rejected_key_is_named_and_never_shown(recorded, server, monkeypatch, capsys) -> None:  # noqa: F811
    monkeypatch.setenv("OPENAI_ADMIN_KEY", "sk-proj-not-an-admin-key-123456")
    assert reconcile(server, "--provider", "openai") == 1
    out, err = capsys.readouterr()
    assert err.startswith("error: openai rejected OPENAI_ADMIN_KEY (HTTP 401: Incorrect API key provided)")
    assert "not-an-admin-key" not in out + err
    assert reconcile(server, "--provider", "openai", "--stored", "--json") == 0
    assert json.loads(capsys.readouterr().out)["providers"] == []  # nothing was stored


def test_a_missing_key_names_its_variable(recorded, server, monkeypatch, capsys) -> None:  # noqa: F811
    monkeypatch.delenv("ANTHROPIC_ADMIN_KEY", raising=False)
    assert reconcile(server, "--provider", "anthropic") == 1
    assert capsys.readouterr().err.startswith("error: ANTHROPIC_ADMIN_KEY is not set")
    assert ProviderServer.paths == []


def test_429_backs_off_then_carries_on(recorded, server, keys, capsys, caplog) -> None:  # noqa: F811
    busy = b'{"error":{"message":"Rate limit reached","type":"rate_limit_error"}}'
    ProviderServer.fail_first = [(429, {"retry-after": "0"}, busy)]
    assert reconcile(server, "--provider", "openai", "--json") == 0
    out = capsys.readouterr().out
    # a WARNING per retry (on stderr without logging set up: Python's last-resort handler)
    assert caplog.messages == ["openai /v1/organization/usage/completions: HTTP 429, retry 1 in 0.0s"]
    assert json.loads(out)["pull"]["model_rows"] == 3
    assert len(ProviderServer.paths) == 5


def test_429_on_every_attempt_stores_nothing(recorded, server, keys, capsys) -> None:  # noqa: F811
    busy = b'{"error":{"message":"Rate limit reached","type":"rate_limit_error"}}'
    ProviderServer.fail_first = [(429, {"retry-after": "0"}, busy)] * 4
    assert reconcile(server, "--provider", "openai") == 1
    err = capsys.readouterr().err
    assert "error: openai /v1/organization/usage/completions: HTTP 429 after 4 attempts: Rate limit reached" in err
    assert reconcile(server, "--provider", "openai", "--stored", "--json") == 0
    assert json.loads(capsys.readouterr().out)["providers"] == []


def test_bad_days_are_refused(server, keys, capsys) -> None:
    with pytest.raises(SystemExit):
        reconcile(server, "--provider", "openai", "--days", "0")
    assert "expected a number of days from 1 to 366, got 0" in capsys.readouterr().err


def test_a_timeout_is_a_clear_error_and_stores_nothing(recorded, server, keys, capsys) -> None:  # noqa: F811
    ProviderServer.delay = 1.0
    assert reconcile(server, "--provider", "anthropic", "--timeout", "0.2") == 1
    assert capsys.readouterr().err == (
        "error: anthropic /v1/organizations/usage_report/messages timed out after 0.2s; "
        "nothing was kept, try again later\n"
    )
    ProviderServer.delay = 0.0
    assert reconcile(server, "--provider", "anthropic", "--stored", "--json") == 0
    assert json.loads(capsys.readouterr().out)["providers"] == []
