"""MetricsSpanProcessor: GenAI spans (hand-made and emitted by the Anthropic SDK) become records."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import anthropic
import httpx2
import pytest
from integration_support import Server, assert_tokens, capture, fixed, fresh_core_db, stored_requests
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Status, StatusCode

from metrics_core.integrations import _common
from metrics_core.integrations.otel import MetricsSpanProcessor

T0 = 1_757_947_531_250_000_000  # ns since epoch


@pytest.fixture
def records(monkeypatch):
    return capture(monkeypatch)


@pytest.fixture
def engine(tmp_path, monkeypatch):
    """A fresh SQLite database that the real core records into."""
    with fresh_core_db(tmp_path, monkeypatch) as engine:
        yield engine


@pytest.fixture
def tracer():
    provider = TracerProvider()
    provider.add_span_processor(MetricsSpanProcessor(tags={"source": "otel"}))
    return provider.get_tracer("test")


def emit(tracer, attributes, *, name="chat gpt-4o", duration_ns=1_500_000_000, status=None):
    span = tracer.start_span(name, attributes=attributes, start_time=T0)
    if status is not None:
        span.set_status(status)
    span.end(end_time=T0 + duration_ns)


def test_current_semconv_chat_span(records, tracer):
    emit(
        tracer,
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.response.model": "gpt-4o-2024-08-06",
            "gen_ai.usage.input_tokens": 1320,
            "gen_ai.usage.output_tokens": 210,
            "gen_ai.usage.cache_read.input_tokens": 1152,
            "gen_ai.usage.cache_creation.input_tokens": 64,
            "gen_ai.usage.reasoning.output_tokens": 128,
            "gen_ai.response.time_to_first_chunk": 0.42,
            "http.route": "/v1/chat/completions",
        },
    )
    [rec] = records
    assert rec["provider_name"] == "openai" and rec["model"] == "gpt-4o-2024-08-06"
    assert rec["status"] == "success" and rec["error_message"] is None
    assert_tokens(
        rec,
        prompt_tokens=1320,
        completion_tokens=210,
        cache_read_tokens=1152,
        cache_write_tokens=64,
        reasoning_tokens=128,
    )
    assert rec["duration_seconds"] == pytest.approx(1.5)
    assert rec["timestamp"] == datetime.fromtimestamp(T0 / 1e9, UTC)
    assert rec["time_to_first_token_seconds"] == 0.42
    assert rec["endpoint"] == "/v1/chat/completions" and rec["tags"] == {"source": "otel"}


def test_older_semconv_span(records, tracer):
    emit(
        tracer,
        {
            "gen_ai.system": "anthropic",
            "gen_ai.request.model": "claude-3-5-sonnet-20241022",
            "gen_ai.usage.prompt_tokens": 900,
            "gen_ai.usage.completion_tokens": 77,
        },
    )
    [rec] = records
    assert rec["provider_name"] == "claude" and rec["model"] == "claude-3-5-sonnet-20241022"
    assert_tokens(rec, prompt_tokens=900, completion_tokens=77)
    assert rec["endpoint"] is None and rec["time_to_first_token_seconds"] is None


def test_non_inference_spans_are_ignored(records, tracer):
    emit(tracer, {"http.request.method": "GET"}, name="GET /health")
    emit(
        tracer,
        {"gen_ai.provider.name": "openai", "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search"},
    )
    emit(
        tracer,
        {
            "gen_ai.provider.name": "openai",
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": 5,
        },
    )
    emit(tracer, {"gen_ai.provider.name": "anthropic"}, name="anthropic.models.list")
    assert records == []


@pytest.mark.parametrize(
    ("error_type", "description", "status", "message"),
    [
        ("RateLimitError", "Error code: 429", "rate_limited", "RateLimitError: Error code: 429"),
        ("timeout", None, "timeout", "timeout"),
        ("APITimeoutError", "Request timed out.", "timeout", "APITimeoutError: Request timed out."),
        ("500", "Internal server error", "failed", "500: Internal server error"),
    ],
)
def test_error_spans(records, tracer, error_type, description, status, message):
    emit(
        tracer,
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "ollama",
            "gen_ai.request.model": "llama3.2",
            "error.type": error_type,
        },
        status=Status(StatusCode.ERROR, description),
    )
    [rec] = records
    assert (rec["provider_name"], rec["status"], rec["error_message"]) == ("ollama", status, message)


def test_exception_recorded_on_span(records, tracer):
    with (
        pytest.raises(ConnectionError),
        tracer.start_as_current_span(
            "chat llama3.2",
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "ollama",
                "gen_ai.request.model": "llama3.2",
            },
        ),
    ):
        raise ConnectionError("Failed to connect to Ollama.")
    [rec] = records
    assert rec["status"] == "failed" and rec["error_message"] == "ConnectionError: Failed to connect to Ollama."


def test_record_failure_never_reaches_the_app(monkeypatch, tracer):
    def broken(**kwargs):
        raise RuntimeError("database is locked")

    monkeypatch.setattr(_common, "record", broken)
    emit(tracer, {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "m"})


def test_spans_from_the_anthropic_sdk(records):
    provider = TracerProvider()
    provider.add_span_processor(MetricsSpanProcessor())
    server = Server(fixed(200, "anthropic_message.json"))
    http = httpx2.Client(transport=httpx2.MockTransport(server.handler(httpx2.Response, httpx2)))
    client = anthropic.Anthropic(
        api_key="sk-ant-test",
        http_client=http,
        max_retries=0,
        open_telemetry={"tracer_provider": provider, "traces": True},
    )
    client.messages.create(model="claude-sonnet-4-6", max_tokens=64, messages=[{"role": "user", "content": "Hi"}])
    server.respond = fixed(200, "anthropic_message_stream.sse", "text/event-stream")
    for _event in client.messages.create(
        model="claude-sonnet-4-6", max_tokens=64, messages=[{"role": "user", "content": "Hi"}], stream=True
    ):
        pass
    server.respond = fixed(429, "anthropic_error_429.json")
    with pytest.raises(anthropic.RateLimitError):
        client.messages.create(model="claude-sonnet-4-6", max_tokens=64, messages=[{"role": "user", "content": "Hi"}])
    plain, streamed, limited = records
    assert plain["provider_name"] == "claude" and plain["model"] == "claude-sonnet-4-6"
    assert plain["status"] == "success" and plain["endpoint"] == "/v1/messages"
    assert_tokens(plain, prompt_tokens=5021, completion_tokens=12, cache_write_tokens=1800, cache_read_tokens=3200)
    assert streamed["status"] == "success" and streamed["time_to_first_token_seconds"] > 0
    assert_tokens(streamed, prompt_tokens=2585, completion_tokens=15, cache_write_tokens=512, cache_read_tokens=2048)
    assert limited["status"] == "rate_limited" and limited["model"] == "claude-sonnet-4-6"


def test_end_to_end_into_sqlite(engine):
    provider = TracerProvider()
    provider.add_span_processor(MetricsSpanProcessor(tags={"source": "otel"}))
    tracer = provider.get_tracer("test")
    emit(
        tracer,
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": "claude-sonnet-4-6",
            # an instrumentation that counts input without the cached tokens
            "gen_ai.usage.input_tokens": 25,
            "gen_ai.usage.output_tokens": 15,
            "gen_ai.usage.cache_read.input_tokens": 2048,
            "gen_ai.usage.cache_creation.input_tokens": 512,
        },
    )
    [row] = stored_requests(engine)
    assert (row["provider"], row["model"], row["status"]) == ("claude", "claude-sonnet-4-6", "success")
    assert (row["prompt_tokens"], row["completion_tokens"], row["cache_read_tokens"]) == (2585, 15, 2048)
    assert row["duration_ms"] == pytest.approx(1500) and str(row["timestamp"]) == "2025-09-15 14:45:31.250000"  # UTC
    assert json.loads(row["tags"]) == {"source": "otel"}
