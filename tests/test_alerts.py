"""Alerts: each fires once per rule, threshold and period, reaches a webhook (a real HTTP receiver on
127.0.0.1 behind apprise's ``json://``), failing channels are retried and reported, and the writer's
hook never holds up recording."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from metrics_core import alerts, budgets, flush, record_request, storage
from metrics_core.alerts import AlertSettings

ONLY_THRESHOLDS = frozenset({"projected_overrun", "circuit_open", "error_rate", "unpriced"})


class Receiver:
    """A webhook on 127.0.0.1: records each JSON POST; answers 500 to the first ``fail_first``."""

    def __init__(self, fail_first: int = 0, delay: float = 0.0) -> None:
        self.bodies: list[dict] = []
        self.requests = 0
        self.fail_first = fail_first
        self.delay = delay
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests += 1
                time.sleep(receiver.delay)
                if receiver.requests <= receiver.fail_first:
                    self.send_response(500)
                    self.end_headers()
                    return
                receiver.bodies.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.server.server_address[1]}/hook"

    @property
    def titles(self) -> list[str]:
        return [b["title"] for b in self.bodies]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    r = Receiver()
    yield r
    r.close()


def settings(*urls, **kw) -> AlertSettings:
    kw.setdefault("disabled_rules", ONLY_THRESHOLDS)
    return AlertSettings(urls=urls, backoff_seconds=0.01, **kw)


def spend(n: int, at: datetime) -> None:
    """n calls of $0.0105 each (claude-sonnet-4-5, 1,000 + 500 tokens)."""
    for i in range(n):
        record_request(
            provider_name="claude",
            model="claude-sonnet-4-5",
            status="success",
            prompt_tokens=1000,
            completion_tokens=500,
            timestamp=at + timedelta(seconds=i),
        )
    flush()


def test_each_threshold_fires_exactly_once_per_period(engine, receiver):
    budgets.set_budget(name="daily-cap", amount_usd="0.10", period="daily", engine=engine)
    cfg = settings(receiver.url)
    day1 = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=2)
    noon1 = day1 + timedelta(hours=12)

    spend(5, day1 + timedelta(hours=1))  # $0.0525: 52.5%
    first = alerts.check(now=noon1, settings=cfg, engine=engine)
    assert [a.threshold for a in first.fired] == [50]
    assert alerts.check(now=noon1, settings=cfg, engine=engine).fired == []
    spend(3, day1 + timedelta(hours=2))  # $0.084: 84%
    assert [a.threshold for a in alerts.check(now=noon1, settings=cfg, engine=engine).fired] == [80]
    spend(2, day1 + timedelta(hours=3))  # $0.105: 105%
    for _ in range(3):
        alerts.check(now=noon1, settings=cfg, engine=engine)
    assert len(receiver.bodies) == 3
    assert [t.split(" reached ")[1].split("%")[0] for t in receiver.titles] == ["50", "80", "100"]
    assert all(f"{day1:%Y-%m-%d}" in t for t in receiver.titles)

    # the next day is a new period: nothing until it crosses its thresholds again
    day2 = day1 + timedelta(days=1)
    assert alerts.check(now=day2 + timedelta(hours=12), settings=cfg, engine=engine).fired == []
    spend(9, day2 + timedelta(hours=1))  # $0.0945: 94.5%
    fired = alerts.check(now=day2 + timedelta(hours=12), settings=cfg, engine=engine).fired
    assert [(a.threshold, a.period) for a in fired] == [(50, f"{day2:%Y-%m-%d}"), (80, f"{day2:%Y-%m-%d}")]
    assert len(receiver.bodies) == 5

    history = alerts.history(engine=engine)
    assert len(history) == 5 and set(history["status"]) == {"sent"}
    assert set(history["rule"]) == {"budget_threshold"}


def test_webhook_payload_is_apprise_json(engine, receiver):
    budgets.set_budget(name="cap", amount_usd="0.01", engine=engine)
    spend(1, datetime.now(UTC) - timedelta(minutes=5))
    alerts.check(settings=settings(receiver.url), engine=engine)
    body = receiver.bodies[-1]
    assert body["type"] == "failure"  # the 100% threshold
    assert "Budget 'cap' reached 100%" in body["title"]
    assert "$0.0105 of $0.01" in body["title"]  # formatting.money: two significant digits under a dollar
    assert "soft monthly budget 'cap' (scope all)" in body["message"]


def test_a_failing_channel_is_retried_and_reported_and_others_get_it_once(engine, receiver, monkeypatch):
    flaky = Receiver(fail_first=3)  # one delivery = 3 tries: the first check fails on this channel
    try:
        budgets.set_budget(name="cap", amount_usd="0.01", thresholds="100", engine=engine)
        spend(1, datetime.now(UTC) - timedelta(minutes=5))
        cfg = settings(receiver.url, flaky.url)
        first = alerts.check(settings=cfg, engine=engine)
        assert len(first.fired) == 1 and first.delivered == 0
        assert [f["channel"] for f in first.failures] == [alerts.channel_label(flaky.url)]
        assert "500" in first.failures[0]["error"] or "failed" in first.failures[0]["error"].lower()
        row = alerts.history(engine=engine).iloc[0]
        assert row["status"] == "failed" and row["attempts"] == 1 and "127.0.0.1" in row["last_error"]
        assert len(receiver.bodies) == 1 and flaky.requests == 3 and flaky.bodies == []

        second = alerts.check(settings=cfg, engine=engine)
        assert second.fired == [] and second.delivered == 1 and second.failures == []
        row = alerts.history(engine=engine).iloc[0]
        assert row["status"] == "sent" and row["attempts"] == 2 and row["last_error"] is None
        assert len(flaky.bodies) == 1
        assert len(receiver.bodies) == 1  # the channel that worked is not sent the alert again
        alerts.check(settings=cfg, engine=engine)
        assert (len(receiver.bodies), len(flaky.bodies)) == (1, 1)
    finally:
        flaky.close()


def test_a_channel_that_never_answers_gives_up_after_max_attempts(engine, receiver):
    receiver.close()  # nothing listens on that port any more
    budgets.set_budget(name="cap", amount_usd="0.01", thresholds="100", engine=engine)
    spend(1, datetime.now(UTC) - timedelta(minutes=5))
    cfg = settings(receiver.url, retries=1, max_attempts=2)
    for _ in range(4):
        alerts.check(settings=cfg, engine=engine)
    row = alerts.history(engine=engine).iloc[0]
    assert row["status"] == "failed" and row["attempts"] == 2


def test_without_channels_alerts_are_recorded_only(engine):
    budgets.set_budget(name="cap", amount_usd="0.01", engine=engine)
    spend(1, datetime.now(UTC) - timedelta(minutes=5))
    result = alerts.check(settings=AlertSettings(disabled_rules=ONLY_THRESHOLDS), engine=engine)
    assert len(result.fired) == 3 and result.channels == 0
    assert set(alerts.history(engine=engine)["status"]) == {"no_channels"}


def test_every_rule(engine, receiver):
    at = datetime.now(UTC).replace(hour=6, minute=0, second=0, microsecond=0) - timedelta(days=1)
    budgets.set_budget(name="overrun", amount_usd="0.05", period="daily", thresholds="500", engine=engine)
    spend(2, at - timedelta(minutes=3))  # $0.021 in the day's first quarter: the run-rate overruns $0.05
    for i in range(6):  # opens openai's circuit (5 consecutive failures) and an error rate of 100%
        record_request(
            provider_name="openai",
            model="gpt-4o",
            status="timeout",
            duration_seconds=30.0,
            error_message="APITimeoutError: Request timed out.",
            timestamp=at - timedelta(seconds=60 - i),
        )
    record_request(
        provider_name="openai",
        model="acme-ft-unknown",
        status="success",
        prompt_tokens=10,
        completion_tokens=10,
        timestamp=at - timedelta(seconds=30),
    )
    flush()
    cfg = AlertSettings(urls=(receiver.url,), error_rate_min_calls=5, backoff_seconds=0.01)
    result = alerts.check(now=at, settings=cfg, engine=engine)
    rules = {a.rule: a for a in result.fired}
    assert set(rules) == {"projected_overrun", "circuit_open", "error_rate", "unpriced"}
    assert rules["projected_overrun"].subject == "overrun"
    assert rules["projected_overrun"].value == pytest.approx(168.0)  # $0.084 projected of $0.05
    assert rules["circuit_open"].subject == "openai" and rules["circuit_open"].period == f"{at:%Y-%m-%d}"
    assert rules["error_rate"].subject == "openai" and rules["error_rate"].value == pytest.approx(85.71)
    assert rules["error_rate"].period == f"{at:%Y-%m-%dT%H}"
    assert rules["unpriced"].subject == "openai/acme-ft-unknown"
    assert len(receiver.bodies) == 4
    assert alerts.check(now=at, settings=cfg, engine=engine).fired == []
    assert len(receiver.bodies) == 4


def test_settings_from_file_and_environment(tmp_path, monkeypatch):
    path = tmp_path / "alerts.toml"
    path.write_text('urls = ["json://127.0.0.1:9/a"]\nerror_rate_percent = 35\ndisabled_rules = ["unpriced"]\n')
    monkeypatch.setenv("LLM_METRICS_ALERTS_FILE", str(path))
    monkeypatch.setenv("LLM_METRICS_ALERT_URLS", "json://127.0.0.1:9/b, json://127.0.0.1:9/a")
    monkeypatch.setenv("LLM_METRICS_ALERT_INTERVAL", "5")
    cfg = alerts.alert_settings()
    assert cfg.urls == ("json://127.0.0.1:9/a", "json://127.0.0.1:9/b")
    assert cfg.error_rate_percent == 35 and cfg.disabled_rules == {"unpriced"} and cfg.interval_seconds == 5
    path.write_text("urls = []\nerror_rate = 5\n")
    with pytest.raises(ValueError, match=r"unknown setting.*error_rate"):
        alerts.alert_settings()


def test_channel_labels_hide_secrets():
    label = alerts.channel_label("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ")
    assert "TIiajkdnlazkcOXrIdevi7FQ" not in label and label.startswith("slack://")


def test_the_writer_hook_checks_in_the_background_without_holding_up_recording(engine, monkeypatch):
    slow = Receiver(delay=3.0)  # a channel that takes 3 s to answer
    try:
        monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
        monkeypatch.setenv("LLM_METRICS_ALERT_URLS", slow.url)
        monkeypatch.setenv("LLM_METRICS_ALERT_INTERVAL", "0.05")
        alerts.reset_hook()
        budgets.set_budget(name="cap", amount_usd="0.01", thresholds="100", engine=engine)
        started = time.perf_counter()
        spend(1, datetime.now(UTC) - timedelta(minutes=5))  # the writer stores it, then calls the hook
        time.sleep(0.1)
        spend(1, datetime.now(UTC) - timedelta(minutes=4))  # a second batch while the check waits on the channel
        assert time.perf_counter() - started < 2.5  # recording and flushing did not wait for the channel
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not (
            slow.bodies and alerts.history(engine=engine)["status"].eq("sent").any()
        ):
            time.sleep(0.1)
        assert len(slow.bodies) == 1 and "Budget 'cap' reached 100%" in slow.bodies[0]["title"]
        assert alerts.history(engine=engine)["status"].tolist() == ["sent"]
    finally:
        alerts.reset_hook()
        slow.close()


def test_a_failing_hook_never_reaches_the_caller(engine, monkeypatch):
    def boom(url):
        raise RuntimeError("alerts exploded")

    monkeypatch.setattr(alerts, "after_write", boom)
    record_request(provider_name="ollama", model="llama3.2", status="success", sync=True)
    flush()
    with engine.connect() as conn:
        assert conn.execute(storage.requests.select()).all()


def test_overlapping_checks_deliver_once(engine, monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    slow = Receiver(delay=1.0)
    try:
        budgets.set_budget(name="cap", amount_usd="0.01", thresholds="100", engine=engine)
        spend(1, datetime.now(UTC) - timedelta(minutes=5))
        cfg = settings(slow.url)
        first = threading.Thread(target=alerts.check, kwargs={"settings": cfg, "engine": engine})
        first.start()
        time.sleep(0.4)  # the first check has recorded the alert and is waiting on the channel
        second = alerts.check(settings=cfg, engine=engine)
        first.join()
        assert second.fired == [] and second.delivered == 0
        assert len(slow.bodies) == 1
        assert alerts.history(engine=engine)["status"].tolist() == ["sent"]
    finally:
        slow.close()
