"""POST /v1/traces: OTLP/HTTP exports (the official exporter, raw OTLP JSON) become calls on a real server."""

from __future__ import annotations

import gzip
import json
import os
import socket
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from google.rpc.status_pb2 import Status
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy import select

from metrics_core import recording, storage
from metrics_core.http_api import api_keys
from metrics_core.http_api import app as http_api_app

ROOT = Path(__file__).resolve().parent.parent
PROTOBUF = {"Content-Type": "application/x-protobuf"}
JSON = {"Content-Type": "application/json"}

# gpt-4o: 800 fresh input x $2.50 + 200 cached x $1.25 + 500 output x $10 per million = $0.00725
OPENAI_CHAT = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o",
    "gen_ai.response.id": "chatcmpl-otlp-1",
    "gen_ai.usage.input_tokens": 1000,
    "gen_ai.usage.cache_read.input_tokens": 200,
    "gen_ai.usage.output_tokens": 500,
}
OPENAI_COST = Decimal("0.00725")
# claude-sonnet-4-5: 100 x $3 + 200 written x $3.75 + 700 read x $0.30 + 100 output x $15 per million = $0.00276
CLAUDE_COST = Decimal("0.00276")


def now_ns() -> int:
    return time.time_ns() - 5_000_000_000


def sdk_spans(*attribute_sets: dict, name: str = "chat gpt-4o") -> list:
    """Finished SDK spans (client kind), one per attribute set."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("opentelemetry.instrumentation.openai_v2", "2.4b0")
    for attributes in attribute_sets:
        start = now_ns()
        span = tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes, start_time=start)
        span.end(end_time=start + 1_200_000_000)
    return list(exporter.get_finished_spans())


def protobuf_body(*attribute_sets: dict) -> bytes:
    return encode_spans(sdk_spans(*attribute_sets)).SerializeToString()


def attr(key: str, value) -> dict:
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    return {"key": key, "value": {"stringValue": value}}


def json_body(spans: list[dict], scope: str = "my-node-service") -> bytes:
    """An OTLP JSON export, as a Node or curl client writes it (hex ids, int64 as strings)."""
    return json.dumps(
        {
            "resourceSpans": [
                {
                    "resource": {"attributes": [attr("service.name", "checkout")]},
                    "scopeSpans": [{"scope": {"name": scope}, "spans": spans}],
                }
            ]
        }
    ).encode()


def json_span(name: str, attributes: dict, *, span_id: str = "00f067aa0ba902b7", kind: int = 3) -> dict:
    start = now_ns()
    return {
        "traceId": "4bf92f3577b34da6a3ce929d0e0e4736",
        "spanId": span_id,
        "name": name,
        "kind": kind,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + 2_000_000_000),
        "attributes": [attr(k, v) for k, v in attributes.items()],
    }


CLAUDE_JSON_SPAN = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "anthropic",
    "gen_ai.request.model": "claude-sonnet-4-5",
    "gen_ai.response.id": "msg_otlp_json_1",
    "gen_ai.usage.input_tokens": 1000,
    "gen_ai.usage.cache_read.input_tokens": 700,
    "gen_ai.usage.cache_write.input_tokens": 200,
    "gen_ai.usage.output_tokens": 100,
}


@pytest.fixture
def client(metrics_db):
    with TestClient(http_api_app.create_app(token_cache_seconds=0)) as c:
        yield c


@pytest.fixture
def token(engine) -> str:
    return api_keys.create_token(name="otel-write", scope="write", engine=engine)[0]


def auth(token: str, headers: dict) -> dict:
    return {**headers, "Authorization": f"Bearer {token}"}


def stored(engine) -> list[dict]:
    """Every stored call (cost as the Decimal the table holds), oldest first."""
    r, p = storage.requests, storage.providers
    query = select(p.c.name.label("provider"), r).join(p, p.c.id == r.c.provider_id).order_by(r.c.id)
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


def partial_success(response: httpx.Response) -> tuple[int, str]:
    reply = ExportTraceServiceResponse()
    reply.ParseFromString(response.content)
    return reply.partial_success.rejected_spans, reply.partial_success.error_message


def test_protobuf_export_records_the_genai_span_and_ignores_others(client, token, engine):
    spans = sdk_spans(OPENAI_CHAT, {"http.request.method": "GET", "url.path": "/health"})
    response = client.post("/v1/traces", content=encode_spans(spans).SerializeToString(), headers=auth(token, PROTOBUF))
    assert response.status_code == 200 and response.headers["content-type"] == "application/x-protobuf"
    assert partial_success(response) == (0, "")
    [row] = stored(engine)
    assert (row["provider"], row["model"], row["status"]) == ("openai", "gpt-4o", "success")
    assert (row["prompt_tokens"], row["cache_read_tokens"], row["completion_tokens"]) == (1000, 200, 500)
    assert row["cost_usd"] == OPENAI_COST
    assert row["duration_ms"] == pytest.approx(1200.0)


def test_json_export_gzip(client, token, engine):
    body = gzip.compress(json_body([json_span("chat claude-sonnet-4-5", CLAUDE_JSON_SPAN)]))
    response = client.post("/v1/traces", content=body, headers=auth(token, {**JSON, "Content-Encoding": "gzip"}))
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    assert response.json() == {}
    [row] = stored(engine)
    assert (row["provider"], row["model"]) == ("claude", "claude-sonnet-4-5")
    assert (row["prompt_tokens"], row["cache_read_tokens"], row["cache_write_tokens"]) == (1000, 700, 200)
    assert row["cost_usd"] == CLAUDE_COST


def test_partial_success_names_the_spans_it_skips(client, token, engine):
    no_times = {**json_span("chat gpt-4o", OPENAI_CHAT, span_id="1111111111111111"), "endTimeUnixNano": "0"}
    too_many = {**OPENAI_CHAT, "gen_ai.response.id": "chatcmpl-2", "gen_ai.usage.output_tokens": 10**13}
    ok = {**OPENAI_CHAT, "gen_ai.response.id": "chatcmpl-3"}
    spans = [
        no_times,
        json_span("chat gpt-4o", too_many, span_id="2222222222222222"),
        json_span("chat gpt-4o", ok, span_id="3333333333333333"),
        json_span("GET /", {"http.route": "/"}, span_id="4444444444444444", kind=2),
    ]
    response = client.post("/v1/traces", content=json_body(spans), headers=auth(token, JSON))
    assert response.status_code == 200
    reply = response.json()["partialSuccess"]
    assert reply["rejectedSpans"] == "2"  # int64 in OTLP JSON is a string
    assert "no or reversed start and end times" in reply["errorMessage"]
    assert "completion_tokens" in reply["errorMessage"]
    [row] = stored(engine)
    assert row["cost_usd"] == OPENAI_COST


def test_the_same_response_exported_twice_is_one_call(client, token, engine):
    body = protobuf_body(OPENAI_CHAT)
    for _ in range(2):
        assert client.post("/v1/traces", content=body, headers=auth(token, PROTOBUF)).status_code == 200
    assert len(stored(engine)) == 1
    assert recording.stats()["duplicates"] == 1


def status_of(response: httpx.Response) -> Status:
    status = Status()
    status.ParseFromString(response.content)
    return status


@pytest.mark.parametrize(
    ("headers", "status", "message"),
    [
        ({}, 401, "missing bearer token"),
        ({"Authorization": "Bearer lmt_not-a-token"}, 401, "invalid or revoked token"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, 401, "missing bearer token"),
    ],
    ids=["none", "bad", "basic"],
)
def test_without_a_valid_token_401_as_a_status_message(client, engine, headers, status, message):
    response = client.post("/v1/traces", content=protobuf_body(OPENAI_CHAT), headers={**PROTOBUF, **headers})
    assert response.status_code == status and response.headers["content-type"] == "application/x-protobuf"
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert status_of(response).message.startswith(message)
    assert stored(engine) == []


def test_a_read_token_gets_403_in_json_for_a_json_request(client, engine):
    reader = api_keys.create_token(name="reader", scope="read", engine=engine)[0]
    response = client.post("/v1/traces", content=json_body([]), headers=auth(reader, JSON))
    assert response.status_code == 403
    assert response.json() == {"code": 403, "message": "token 'reader' has scope 'read'; this needs 'write'"}


def test_other_content_types_get_415(client, token):
    response = client.post("/v1/traces", content=b"x", headers=auth(token, {"Content-Type": "text/plain"}))
    assert response.status_code == 415
    assert "application/x-protobuf, application/json" in status_of(response).message


def test_an_unknown_content_encoding_gets_415(client, token):
    headers = auth(token, {**PROTOBUF, "Content-Encoding": "br"})
    assert client.post("/v1/traces", content=protobuf_body(OPENAI_CHAT), headers=headers).status_code == 415


def test_bodies_over_the_limit_get_413(monkeypatch, metrics_db, engine):
    monkeypatch.setenv("LLM_METRICS_API_MAX_BODY_BYTES", "2048")
    token = api_keys.create_token(name="w", scope="write", engine=engine)[0]
    with TestClient(http_api_app.create_app(token_cache_seconds=0)) as c:
        response = c.post("/v1/traces", content=b"\0" * 4096, headers=auth(token, PROTOBUF))
        assert response.status_code == 413
        assert status_of(response).message == "request body over the limit of 2048 bytes"
        # a gzip body may inflate to 16 times the limit, not more
        bomb = gzip.compress(b"\0" * (2048 * 16 + 1))
        response = c.post("/v1/traces", content=bomb, headers=auth(token, {**PROTOBUF, "Content-Encoding": "gzip"}))
        assert response.status_code == 413


def test_corrupt_bodies_get_400(client, token):
    response = client.post("/v1/traces", content=b"{not json", headers=auth(token, JSON))
    assert response.status_code == 400 and response.json()["message"].startswith("not an OTLP trace export")


def test_a_span_without_usage_is_stored_unpriced(client, token, engine):
    no_usage = {k: v for k, v in OPENAI_CHAT.items() if "usage" not in k}
    response = client.post("/v1/traces", content=protobuf_body(no_usage), headers=auth(token, PROTOBUF))
    assert partial_success(response) == (0, "")
    [row] = stored(engine)
    assert row["cost_usd"] is None and row["price_source"] == "unpriced"


# -- a real `llm-metrics serve` -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(metrics_db):
    """A real ``llm-metrics serve`` on a loopback port; yields its base URL."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "metrics_core", "--db", metrics_db, "serve", "--port", str(port)]
    proc = subprocess.Popen(
        [*command, "--log-level", "warning"],
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
        yield base
    finally:
        proc.terminate()
        proc.wait(20)


def test_official_exporter_and_raw_json_to_a_real_server(server, engine, monkeypatch):
    token = api_keys.create_token(name="node-and-python", scope="write", engine=engine)[0]
    # configured only through the environment, as a deployment would
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", f"{server}/v1/traces")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"Authorization=Bearer {token}")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")
    exporter = OTLPSpanExporter()
    assert exporter.export(sdk_spans(OPENAI_CHAT)) == SpanExportResult.SUCCESS
    exporter.shutdown()

    body = json_body([json_span("chat claude-sonnet-4-5", CLAUDE_JSON_SPAN)])
    response = httpx.post(f"{server}/v1/traces", content=body, headers=auth(token, JSON))
    assert (response.status_code, response.json()) == (200, {})

    # without a token: 401, and the official exporter reports the failure
    assert httpx.post(f"{server}/v1/traces", content=body, headers=JSON).status_code == 401
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Bearer lmt_wrong")
    refused = OTLPSpanExporter()
    assert refused.export(sdk_spans({**OPENAI_CHAT, "gen_ai.response.id": "chatcmpl-x"})) == SpanExportResult.FAILURE
    refused.shutdown()

    rows = stored(engine)
    assert [(r["provider"], r["model"], r["cost_usd"]) for r in rows] == [
        ("openai", "gpt-4o", OPENAI_COST),
        ("claude", "claude-sonnet-4-5", CLAUDE_COST),
    ]
    assert [(r["prompt_tokens"], r["completion_tokens"], r["cache_read_tokens"]) for r in rows] == [
        (1000, 500, 200),
        (1000, 100, 700),
    ]
