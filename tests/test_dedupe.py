"""One provider response is one call: record_request(response_id=...), across the recorder, the HTTP API and OTLP."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

import metrics_core
from metrics_core import queries, record_request, recording
from metrics_core.http_api import api_keys
from metrics_core.http_api import app as http_api_app
from metrics_core.integrations.otel import MetricsSpanProcessor
from metrics_core.recording.dedupe import Seen

CALL = {"provider_name": "openai", "model": "gpt-4o", "status": "success", "prompt_tokens": 10, "completion_tokens": 5}


def test_a_key_is_a_duplicate_within_the_window_only():
    seen = Seen(window_seconds=600, max_entries=10)
    assert seen.check("openai", "a", now=1000.0) is False
    assert seen.check("openai", "a", now=1599.0) is True
    assert seen.check("claude", "a", now=1599.0) is False  # another provider's id is another response
    assert seen.check("openai", "a", now=1600.0) is False  # 600 s after it was first seen: forgotten
    assert seen.check("openai", "a", now=1601.0) is True
    assert seen.duplicates == 2


def test_the_memory_is_bounded():
    seen = Seen(window_seconds=600, max_entries=3)
    for i, key in enumerate("abcd"):
        assert seen.check("openai", key, now=float(i)) is False
    assert list(seen.keys) == [("openai", "b"), ("openai", "c"), ("openai", "d")]
    assert seen.check("openai", "a", now=5.0) is False  # the oldest was forgotten


def test_forget_and_contains():
    seen = Seen()
    seen.check("openai", "a")
    assert seen.contains("openai", "a") and not seen.contains("openai", "b")
    seen.forget([("openai", "a")])
    assert seen.check("openai", "a") is False and seen.duplicates == 0


@pytest.mark.parametrize(("window", "entries"), [(0, 10), (-1.0, 10), (60, 0)])
def test_invalid_sizes(window, entries):
    with pytest.raises(ValueError, match="window_seconds must be > 0 and max_entries >= 1"):
        Seen(window_seconds=window, max_entries=entries)


def test_record_request_drops_the_second_record_of_a_response():
    record_request(**CALL, response_id="chatcmpl-1")
    record_request(**CALL, response_id="chatcmpl-1")
    record_request(**CALL, response_id="chatcmpl-2")
    record_request(**CALL)  # no id: never deduplicated
    record_request(**CALL)
    assert metrics_core.flush(10)
    assert queries.request_count() == 4
    assert recording.stats()["duplicates"] == 1


@pytest.mark.parametrize("bad", ["", "x" * 201, 12, b"id"], ids=["empty", "long", "int", "bytes"])
def test_invalid_response_ids(bad):
    with pytest.raises(ValueError, match="response_id must be a non-empty string of at most 200 characters"):
        record_request(**CALL, response_id=bad)


@pytest.fixture
def client(metrics_db):
    with TestClient(http_api_app.create_app(token_cache_seconds=0)) as c:
        yield c


@pytest.fixture
def writer(engine) -> dict:
    return {"Authorization": f"Bearer {api_keys.create_token(name='w', scope='write', engine=engine)[0]}"}


def test_http_api_records_a_response_once(client, writer):
    call = {**CALL, "response_id": "chatcmpl-api"}
    assert client.post("/api/llm/record", json=call, headers=writer).json() == {"recorded": 1}
    assert client.post("/api/llm/record", json=[call, call], headers=writer).json() == {"recorded": 0}
    assert queries.request_count() == 1


def test_a_refused_batch_does_not_mark_its_ids(client, writer):
    good, bad = {**CALL, "response_id": "chatcmpl-good"}, {**CALL, "status": "nope", "response_id": "chatcmpl-bad"}
    assert client.post("/api/llm/record", json=[good, bad], headers=writer).status_code == 422
    fixed = {**bad, "status": "success"}
    assert client.post("/api/llm/record", json=[good, fixed], headers=writer).json() == {"recorded": 2}


def test_a_span_recorded_by_the_processor_and_exported_over_otlp_is_one_call(client, writer):
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(MetricsSpanProcessor())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.response.id": "chatcmpl-both",
        "gen_ai.usage.input_tokens": 10,
        "gen_ai.usage.output_tokens": 5,
    }
    provider.get_tracer("app").start_span("chat gpt-4o", kind=SpanKind.CLIENT, attributes=attributes).end()
    body = encode_spans(exporter.get_finished_spans()).SerializeToString()
    headers = {**writer, "Content-Type": "application/x-protobuf"}
    assert client.post("/v1/traces", content=body, headers=headers).status_code == 200
    assert metrics_core.flush(10)
    assert queries.request_count() == 1
    # and the HTTP API with the same provider and id
    assert client.post("/api/llm/record", json={**CALL, "response_id": "chatcmpl-both"}, headers=writer).json() == {
        "recorded": 0
    }
    assert recording.stats()["duplicates"] == 2
