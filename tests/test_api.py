"""The HTTP API: every endpoint, tokens and scopes, bad bodies, all-or-nothing batches, a real
uvicorn on 127.0.0.1, and a schemathesis run against the OpenAPI document (no 5xx).

Runs on both backends (conftest.py).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from metrics_core import LLMMetricsService, queries
from metrics_core.cli import build_parser
from metrics_core.cli import main as cli
from metrics_core.http_api import api_keys
from metrics_core.http_api import app as http_api_app

ROOT = Path(__file__).resolve().parent.parent
CALL = {
    "provider_name": "claude",
    "model": "claude-sonnet-4-5",
    "status": "success",
    "prompt_tokens": 1000,
    "completion_tokens": 500,
    "duration_seconds": 1.5,
    "endpoint": "/v1/messages",
    "tags": {"project": "search"},
}
GETS = ["/api/llm/providers", "/api/llm/metrics", "/api/llm/costs", "/api/llm/trends", "/api/llm/health"]


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def app(metrics_db):
    return http_api_app.create_app(token_cache_seconds=0)


@pytest.fixture
def client(app):
    with TestClient(app) as c:
        yield c


@pytest.fixture
def writer(engine) -> dict:
    return bearer(api_keys.create_token(name="svc-write", scope="write", engine=engine)[0])


@pytest.fixture
def reader(engine) -> dict:
    return bearer(api_keys.create_token(name="svc-read", scope="read", engine=engine)[0])


# -- liveness and auth ---------------------------------------------------------------------------


def test_liveness_needs_no_token(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok"


@pytest.mark.parametrize("path", GETS)
def test_reads_need_a_token(client, reader, path):
    assert client.get(path).status_code == 401
    assert client.get(path).headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get(path, headers={"Authorization": "Basic dXNlcjpwYXNz"}).status_code == 401
    assert client.get(path, headers=bearer("lmt_not-a-real-token")).status_code == 401
    assert client.get(path, headers=reader).status_code == 200


def test_writes_need_the_write_scope(client, reader, writer):
    assert client.post("/api/llm/record", json=CALL).status_code == 401
    r = client.post("/api/llm/record", json=CALL, headers=reader)
    assert r.status_code == 403 and "scope 'read'" in r.json()["detail"]
    r = client.post("/api/llm/providers/1/enable", json={"enabled": False}, headers=reader)
    assert r.status_code == 403
    assert queries.request_count() == 0
    assert client.post("/api/llm/record", json=CALL, headers=writer).status_code == 200
    assert client.get("/api/llm/metrics", headers=writer).status_code == 200  # write includes read


def test_revoked_tokens_are_refused(client, engine):
    token, record = api_keys.create_token(name="svc-gone", scope="write", engine=engine)
    assert client.get("/api/llm/health", headers=bearer(token)).status_code == 200
    api_keys.revoke_token("svc-gone", engine=engine)
    r = client.get("/api/llm/health", headers=bearer(token))
    assert r.status_code == 401 and r.json()["detail"] == "invalid or revoked token"
    listed = {t.id: t for t in api_keys.list_tokens(engine=engine)}
    assert listed[record.id].last_used_at is not None and not listed[record.id].active


def test_a_revoked_token_stops_working_when_the_cache_expires(metrics_db, engine):
    token, _ = api_keys.create_token(name="svc-cached", scope="read", engine=engine)
    with TestClient(http_api_app.create_app(token_cache_seconds=0.5)) as c:
        assert c.get("/api/llm/health", headers=bearer(token)).status_code == 200
        api_keys.revoke_token("svc-cached", engine=engine)
        assert c.get("/api/llm/health", headers=bearer(token)).status_code == 200  # cached
        time.sleep(0.6)
        assert c.get("/api/llm/health", headers=bearer(token)).status_code == 401


def test_tokens_are_stored_hashed(engine):
    token, record = api_keys.create_token(name="svc-a", engine=engine)
    assert token.startswith("lmt_") and len(token) >= 40 and record.scope == "read"
    with engine.connect() as conn:
        stored = [tuple(r) for r in conn.exec_driver_sql("select * from llm_api_tokens")]
    assert not any(token in str(col) for row in stored for col in row)
    assert api_keys.verify(token, engine=engine).name == "svc-a"
    assert api_keys.verify(token + "x", engine=engine) is None
    with pytest.raises(ValueError, match="already named 'svc-a'"):
        api_keys.create_token(name="svc-a", engine=engine)
    with pytest.raises(ValueError, match="scope must be one of read, write"):
        api_keys.create_token(name="svc-b", scope="admin", engine=engine)


def test_token_commands(engine, capsys):
    assert cli(["token", "create", "--name", "svc-a", "--scope", "write"]) == 0
    token = capsys.readouterr().out.strip()
    assert token.startswith("lmt_")
    assert cli(["token", "list"]) == 0
    listing = capsys.readouterr().out
    assert "svc-a" in listing and "write" in listing and "active" in listing and token not in listing
    assert cli(["token", "revoke", "svc-a"]) == 0
    assert cli(["token", "revoke", "svc-a"]) == 1
    assert cli(["token", "list", "--json"]) == 0
    assert '"active": false' in capsys.readouterr().out
    assert api_keys.verify(token, engine=engine) is None


def test_serve_binds_loopback_by_default():
    args = build_parser().parse_args(["serve"])
    assert (args.host, args.port) == ("127.0.0.1", 8000)


# -- every endpoint, same shapes as the facade ---------------------------------------------------


def test_endpoints_return_the_facade_shapes(client, writer):
    r = client.post("/api/llm/record", json=CALL, headers=writer)
    assert r.status_code == 200 and r.json() == {"recorded": 1}
    batch = [CALL | {"provider_name": "ollama", "model": "llama3.2"}, CALL | {"status": "failed", "prompt_tokens": 0}]
    assert client.post("/api/llm/record", json=batch, headers=writer).json() == {"recorded": 2}
    assert client.get("/api/llm/metrics?days=7", headers=writer).json() == LLMMetricsService.get_metrics(7)
    assert client.get("/api/llm/costs?days=30", headers=writer).json() == LLMMetricsService.get_cost_summary(30)
    assert client.get("/api/llm/trends?days=30", headers=writer).json() == LLMMetricsService.get_trends(30)
    assert client.get("/api/llm/providers", headers=writer).json() == LLMMetricsService.get_all_providers()
    health = client.get("/api/llm/health", headers=writer).json()
    assert health["status"] in ("healthy", "degraded") and health["providers_total"] == 4
    metrics = client.get("/api/llm/metrics", headers=writer).json()
    assert metrics["total_requests"] == 3 and metrics["failed_requests"] == 1
    assert client.get("/api/llm/costs", headers=writer).json()["total_cost_usd"] == pytest.approx(0.018)
    assert len(client.get("/api/llm/trends?days=5", headers=writer).json()["daily"]) == 5


def test_enable_and_disable_a_provider(client, writer):
    r = client.post("/api/llm/providers/3/enable", json={"enabled": False}, headers=writer)
    assert r.status_code == 200 and r.json()["enabled"] is False and r.json()["name"] == "claude"
    r = client.post("/api/llm/providers/claude/enable", json={"enabled": True}, headers=writer)
    assert r.status_code == 200 and r.json()["enabled"] is True
    assert r.json() == LLMMetricsService.get_all_providers()[2]
    r = client.post("/api/llm/providers/99/enable", json={"enabled": True}, headers=writer)
    assert r.status_code == 404 and "known providers" in r.json()["detail"]
    r = client.post("/api/llm/providers/1/enable", json={"enabled": 0}, headers=writer)
    assert r.status_code == 200 and r.json()["enabled"] is False
    r = client.post("/api/llm/providers/1/enable", json={"enabled": "yes"}, headers=writer)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][:2] == ["body", "enabled"]
    r = client.post("/api/llm/providers/1/enable", json={}, headers=writer)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][:2] == ["body", "enabled"]


@pytest.mark.parametrize("days", ["0", "-1", "3661", "abc", "1.5"])
def test_bad_windows_are_422(client, reader, days):
    r = client.get(f"/api/llm/metrics?days={days}", headers=reader)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "days"]


# -- bad bodies: 4xx naming the field, nothing stored ---------------------------------------------


@pytest.mark.parametrize(
    ("body", "loc", "message"),
    [
        (CALL | {"status": "ok"}, ["body", "status"], "status: Input should be"),
        (CALL | {"prompt_tokens": -5}, ["body", "prompt_tokens"], "prompt_tokens: Input should be greater"),
        (CALL | {"prompt_tokens": "12"}, ["body", "prompt_tokens"], "prompt_tokens: Input should be a valid integer"),
        (CALL | {"prompt_tokens": True}, ["body", "prompt_tokens"], "valid integer"),
        (CALL | {"duration_seconds": 1e300}, ["body", "duration_seconds"], "less than or equal"),
        (CALL | {"promt_tokens": 5}, ["body", "promt_tokens"], "promt_tokens: Extra inputs are not permitted"),
        ({k: v for k, v in CALL.items() if k != "model"}, ["body", "model"], "model: Field required"),
        (CALL | {"model": ""}, ["body", "model"], "model: String should have at least 1 character"),
        (CALL | {"cache_read_tokens": 2000}, ["body", "cache_read_tokens"], "must not exceed prompt_tokens"),
        (CALL | {"reasoning_tokens": 501}, ["body", "reasoning_tokens"], "must not exceed completion_tokens"),
        (CALL | {"tags": {"k": 5}}, ["body", "tags", "k"], "tags.k: Input should be a valid string"),
        (
            CALL | {"tags": {"": "v"}},
            ["body", "tags", "", "[key]"],
            "tags.[key]: String should have at least 1 character",
        ),
        (CALL | {"timestamp": "2026-01-01T10:00:00"}, ["body", "timestamp"], "timezone"),
        (CALL | {"timestamp": "1999-12-31T10:00:00Z"}, ["body", "timestamp"], "between 2000-01-01"),
        ([], ["body"], "non-empty list"),
        ("hello", ["body"], "expected a call"),
        ([CALL, "x"], ["body", 1], "valid dictionary"),
    ],
    ids=lambda v: None if not isinstance(v, str) else v[:30],
)
def test_bad_calls_get_422_naming_the_field(client, writer, body, loc, message):
    r = client.post("/api/llm/record", json=body, headers=writer)
    assert r.status_code == 422, r.text
    problems = r.json()["detail"]
    assert any(p["loc"] == loc and message in p["msg"] for p in problems), problems
    assert queries.request_count() == 0


def test_a_batch_is_validated_whole_before_anything_is_written(client, writer):
    batch = [CALL, CALL | {"model": "gpt-4o", "provider_name": "openai"}, CALL | {"completion_tokens": -1}, CALL]
    r = client.post("/api/llm/record", json=batch, headers=writer)
    assert r.status_code == 422
    assert [p["loc"] for p in r.json()["detail"]] == [["body", 2, "completion_tokens"]]
    assert queries.request_count() == 0
    assert client.post("/api/llm/record", json=batch[:2], headers=writer).json() == {"recorded": 2}
    assert queries.request_count() == 2


def test_a_batch_that_fails_while_writing_leaves_nothing(client, writer, monkeypatch, app):
    """All or nothing at the storage level too: the rows, rollups and breakers share one transaction."""
    from metrics_core.recording import batch

    def boom(*_args, **_kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(batch, "apply_health", boom)  # runs after the rows and rollups are written
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.post("/api/llm/record", json=[CALL, CALL], headers=writer)
    assert r.status_code == 500
    monkeypatch.undo()
    assert queries.request_count() == 0
    assert LLMMetricsService.get_metrics(7)["total_requests"] == 0


def test_group_commit_isolates_a_failing_request(engine, metrics_db):
    """Requests waiting together share a transaction; when it fails, each is written on its own,
    so only the request at fault fails, and it stores nothing."""
    import concurrent.futures

    from metrics_core import recording

    committer = http_api_app.Committer(engine, metrics_db)
    good, bad = [], []
    recording.record_request(**CALL, _into=good)
    recording.record_request(**(CALL | {"model": "poison"}), _into=bad)
    recording.record_request(**(CALL | {"model": "ok-too"}), _into=bad)
    attempts = []
    real = committer._write

    def write(items):
        attempts.append(len(items))
        if any(item[1] == "poison" for item in items):
            raise RuntimeError("poison")
        real(items)

    committer._write = write
    ok, failing = concurrent.futures.Future(), concurrent.futures.Future()
    for job in ((good, ok), (bad, failing), None):
        committer.jobs.put(job)
    committer._run()  # here, in this thread: one group of both, then each alone, then stop
    assert attempts == [3, 1, 2]
    assert ok.result(0) is None
    with pytest.raises(RuntimeError, match="poison"):
        failing.result(0)
    assert queries.request_log()["model"].tolist() == ["claude-sonnet-4-5"]


def test_recording_through_the_api_runs_the_alert_hook(client, writer, monkeypatch, metrics_db):
    from metrics_core.recording import writer as recording_writer

    seen = []
    monkeypatch.setattr(recording_writer, "AFTER_WRITE_HOOKS", [seen.append])
    assert client.post("/api/llm/record", json=CALL, headers=writer).status_code == 200
    assert seen == [metrics_db]


def test_not_json_is_400(client, writer):
    r = client.post("/api/llm/record", content=b"{not json", headers=writer | {"Content-Type": "application/json"})
    assert r.status_code == 400 and "not valid JSON" in r.json()["detail"]
    r = client.post("/api/llm/record", content=b"[" * 100_000, headers=writer)
    assert r.status_code == 400


def test_oversized_bodies_are_refused(monkeypatch, metrics_db, engine):
    monkeypatch.setenv("LLM_METRICS_API_MAX_BODY_BYTES", "2048")
    monkeypatch.setenv("LLM_METRICS_API_MAX_BATCH", "3")
    headers = bearer(api_keys.create_token(name="svc", scope="write", engine=engine)[0])
    with TestClient(http_api_app.create_app(token_cache_seconds=0)) as c:
        r = c.post("/api/llm/record", json=[CALL | {"error_message": "x" * 3000}], headers=headers)
        assert r.status_code == 413 and "2048 bytes" in r.json()["detail"]

        def chunks():  # no Content-Length: counted as it streams in
            for _ in range(10):
                yield b" " * 1000

        r = c.post("/api/llm/record", content=chunks(), headers=headers)
        assert r.status_code == 413
        huge = headers | {"Content-Length": "9" * 5000, "Content-Type": "application/json"}
        assert c.post("/api/llm/record", content=b"{}", headers=huge).status_code == 413
        r = c.post("/api/llm/record", json=[CALL] * 4, headers=headers)
        assert r.status_code == 422 and "at most 3 calls" in r.json()["detail"][0]["msg"]
        assert c.post("/api/llm/record", json=[CALL] * 3, headers=headers).json() == {"recorded": 3}


def test_timestamps_and_new_providers(client, writer):
    yesterday = (datetime.now(UTC) - timedelta(days=1)).replace(microsecond=0)
    call = CALL | {"provider_name": "mistral", "model": "mistral-large", "timestamp": yesterday.isoformat()}
    assert client.post("/api/llm/record", json=call, headers=writer).status_code == 200
    log = queries.request_log()
    assert log["provider"].tolist() == ["mistral"]
    assert log["timestamp"].iloc[0] == yesterday.replace(tzinfo=None)
    daily = client.get("/api/llm/trends?days=2", headers=writer).json()["daily"]
    assert [d["requests"] for d in daily] == [1, 0]


def test_openapi_document(client):
    doc = client.get("/openapi.json").json()
    assert set(doc["paths"]) >= {*GETS, "/api/llm/record", "/api/llm/providers/{provider}/enable", "/healthz"}
    assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert "RecordIn" in doc["components"]["schemas"]
    assert doc["paths"]["/api/llm/record"]["post"]["security"] == [{"HTTPBearer": []}]


# -- schemathesis: nothing in the OpenAPI document's space makes a 5xx -------------------------------


FUZZ_EXAMPLES = 25  # per operation and generation mode: the whole run stays well under a minute
# no 5xx, and every response is one the document declares, with the declared shape and content type
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance, content_type_conformance]


def test_no_server_errors(app, engine):
    """Positive and negative cases generated from the OpenAPI document never get a 5xx."""
    headers = bearer(api_keys.create_token(name="schemathesis", scope="write", engine=engine)[0])
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 12  # 9 + the reservations router (3)
    ran = []
    statuses: dict[int, int] = {}
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(
                max_examples=FUZZ_EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def fuzz(case):
                response = case.call_and_validate(headers=headers, checks=CHECKS)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

            try:
                fuzz()
            except Unsatisfiable:  # nothing to break: an operation without parameters or body
                assert mode == GenerationMode.NEGATIVE
                ran.append(f"{operation.label}: no negative cases")
            else:
                ran.append(f"{operation.label}: {mode.value}")
    assert len(ran) == 24
    assert statuses.get(200, 0) > 50 and statuses.get(422, 0) > 10  # it got past the auth, both ways


# -- a real server ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_real_uvicorn_on_loopback(metrics_db, engine):
    token = api_keys.create_token(name="svc-real", scope="write", engine=engine)[0]
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "metrics_core",
            "--db",
            metrics_db,
            "serve",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
        with httpx.Client(base_url=base, headers=bearer(token), timeout=10) as http:
            assert http.post("/api/llm/record", json=[CALL] * 5).json() == {"recorded": 5}
            assert http.get("/api/llm/metrics").json()["total_requests"] == 5
            assert http.get("/api/llm/providers", headers={"Authorization": ""}).status_code == 401
            assert "server" not in http.get("/healthz").headers
    finally:
        proc.terminate()
        proc.wait(20)
    assert queries.request_count() == 5
