"""Hostile input (issue 12): one rule for text on every path and both backends -- text that cannot be
stored as given (a lone surrogate, a NUL) is refused at the door with an error naming the field,
never accepted and then dropped; the validation holes of record_request are closed; one timestamp
rule for record_request and the HTTP API; a month out of range is a clear CLI error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

import metrics_core
from metrics_core import queries, recording
from metrics_core.http_api import api_keys
from metrics_core.http_api import app as http_api_app

GOOD = dict(provider_name="claude", model="claude-sonnet-4-5", status="success", prompt_tokens=10)
TEXT_FIELDS = [
    ("provider_name", lambda bad: {"provider_name": bad}, "provider_name"),
    ("model", lambda bad: {"model": bad}, "model"),
    ("endpoint", lambda bad: {"endpoint": bad}, "endpoint"),
    ("error_message", lambda bad: {"status": "failed", "error_message": bad}, "error_message"),
    ("tag key", lambda bad: {"tags": {bad: "v"}}, "tags keys"),
    ("tag value", lambda bad: {"tags": {"k": bad}}, "tags['k']"),
]


@pytest.mark.parametrize(("where", "make", "field"), TEXT_FIELDS, ids=[t[0] for t in TEXT_FIELDS])
def test_a_lone_surrogate_is_refused_naming_the_field(where, make, field):
    with pytest.raises(
        ValueError,
        match=rf"^{field.replace('[', '.').replace(']', '.')} must be valid Unicode text: "
        r"a lone surrogate U\+DC80 at index 1 cannot be stored",
    ):
        metrics_core.record_request(**{**GOOD, **make("e\udc80")})
    assert recording.stats()["queued"] == 0
    assert metrics_core.flush(10)  # before: accepted, then the writer dropped it while flush() said True
    assert queries.request_count() == 0


@pytest.mark.parametrize(("where", "make", "field"), TEXT_FIELDS, ids=[t[0] for t in TEXT_FIELDS])
def test_a_nul_is_refused_on_both_backends(where, make, field):
    with pytest.raises(ValueError, match=r"must not contain a NUL character \(found at index 1\)"):
        metrics_core.record_request(**{**GOOD, **make("e\x00x")})
    assert queries.request_count() == 0  # before: SQLite kept it, PostgreSQL stored U+FFFD instead


def test_text_outside_ascii_is_stored_as_given():
    metrics_core.record_request(
        **{**GOOD, "status": "failed", "error_message": "échec — 失败 🙂", "tags": {"équipe": "données"}}
    )
    row = queries.request_log().iloc[0]
    assert row["error_message"] == "échec — 失败 🙂"
    assert row["tags"] == {"équipe": "données"}


def test_track_makes_exception_text_storable():
    with pytest.raises(OSError), metrics_core.track("claude", "claude-sonnet-4-5"):
        raise OSError("cannot open b'\\xff' as 'f\udcffile\x00'")
    row = queries.request_log().iloc[0]
    assert row["status"] == "failed"
    assert row["error_message"] == "OSError: cannot open b'\\xff' as 'f\\udcffile\\x00'"


@pytest.fixture
def client(metrics_db, engine):
    token = api_keys.create_token(name="svc-write", scope="write", engine=engine)[0]
    with TestClient(http_api_app.create_app(token_cache_seconds=0)) as c:
        c.headers["Authorization"] = f"Bearer {token}"
        yield c


@pytest.mark.parametrize("field", ["error_message", "provider_name", "endpoint"])
def test_the_api_refuses_a_lone_surrogate_with_422_naming_the_field(client, field):
    call = {**GOOD, "status": "failed", field: "eXX"}
    body = json.dumps(call).replace("eXX", "e\\udc80")  # JSON's own escape of a lone surrogate
    r = client.post("/api/llm/record", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 422, r.text  # before, error_message: 500 with a UnicodeEncodeError
    assert r.json()["detail"][0]["loc"] == ["body", field]
    assert queries.request_count() == 0


@pytest.mark.parametrize("value", [True, "1.5", b"2", bytearray(b"2")])
def test_duration_must_be_a_number(value):
    with pytest.raises(ValueError, match=r"^duration_seconds must be a number of seconds >= 0 or None"):
        metrics_core.record_request(**{**GOOD, "duration_seconds": value})  # before: stored as 1000, 1500, 2000 ms
    assert queries.request_count() == 0


def test_time_to_first_token_cannot_exceed_the_duration():
    with pytest.raises(ValueError, match=r"time_to_first_token_seconds must not exceed duration_seconds.*2.5 > 2.0"):
        metrics_core.record_request(**{**GOOD, "duration_seconds": 2.0, "time_to_first_token_seconds": 2.5})
    metrics_core.record_request(**{**GOOD, "duration_seconds": 2.0, "time_to_first_token_seconds": 2.0})
    assert queries.request_count() == 1


@pytest.mark.parametrize("status", [["success"], {"a": 1}, {"success"}])
def test_an_unhashable_status_is_a_value_error_naming_the_field(status):
    with pytest.raises(ValueError, match=r"^status must be one of success, failed, timeout, rate_limited, cancelled"):
        metrics_core.record_request(**{**GOOD, "status": status})


@pytest.mark.parametrize(
    "when",
    [datetime(1999, 12, 31, 23, 59, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC), "two days ahead"],
)
def test_one_timestamp_rule_for_record_request_and_the_api(client, when):
    if when == "two days ahead":
        when = datetime.now(UTC) + timedelta(days=2)
    with pytest.raises(ValueError, match=r"^timestamp must lie between 2000-01-01 and a day from now"):
        metrics_core.record_request(**{**GOOD, "timestamp": when})
    r = client.post("/api/llm/record", json={**GOOD, "timestamp": when.isoformat()})
    assert r.status_code == 422
    assert r.json()["detail"][0]["msg"].startswith("timestamp must lie between 2000-01-01 and a day from now")


def test_timestamps_within_the_rule_are_accepted(client):
    metrics_core.record_request(**{**GOOD, "timestamp": datetime(2000, 1, 1, tzinfo=UTC)})
    metrics_core.record_request(**{**GOOD, "timestamp": datetime.now(UTC) + timedelta(hours=20)})
    assert client.post("/api/llm/record", json={**GOOD, "timestamp": "2000-01-01T00:00:00+00:00"}).status_code == 200
    assert queries.request_count() == 3


@pytest.mark.sqlite_only
@pytest.mark.parametrize("month", ["9999-12", "1999-12"])
def test_a_report_month_out_of_range_is_a_clear_error(metrics_db, month):
    run = subprocess.run(
        [sys.executable, "-m", "metrics_core", "report", "--month", month],
        capture_output=True,
        text=True,
        env={**os.environ, "LLM_METRICS_DB_URL": metrics_db},
        timeout=120,
    )
    assert run.returncode == 1  # before (9999-12): an OverflowError traceback
    assert "Traceback" not in run.stderr
    assert f"month must be YYYY-MM from 2000-01 (no call is recorded before 2000) to 9999-11, got {month}" in run.stderr
