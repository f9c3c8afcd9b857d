"""MetricsSpanProcessor: GenAI spans (hand-made and emitted by the Anthropic SDK) become records."""

from __future__ import annotations

import gc
import json
from datetime import UTC, datetime
from decimal import Decimal

import anthropic
import httpx2
import openai
import pytest
from integration_support import Server, assert_tokens, capture, fixed, fresh_core_db, payload, stored_requests
from opentelemetry import trace as trace_api
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Status, StatusCode

from metrics_core import recording
from metrics_core.integrations import _common
from metrics_core.integrations import anthropic as m_anthropic
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


# --- spans from real third-party instrumentations, and the span shapes issue 11 found misread ---


def openai_client(server):
    http = httpx2.Client(transport=httpx2.MockTransport(server.handler(httpx2.Response, httpx2)))
    return openai.OpenAI(api_key="sk-test", http_client=http, max_retries=0)


def chat(client, **kwargs):
    return client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Hi"}], **kwargs)


@pytest.fixture
def instrumented(request):
    """Instrument openai with the given instrumentor class, spans going to MetricsSpanProcessor."""
    instrumentor = request.param()
    provider = TracerProvider()
    provider.add_span_processor(MetricsSpanProcessor())
    instrumentor.instrument(tracer_provider=provider)
    yield
    instrumentor.uninstrument()
    strip_wrappers()


def strip_wrappers():
    """Undo the wrapt wrappers that Traceloop's uninstrument() leaves on openai 3.x's resource classes."""
    import sys

    for name, module in list(sys.modules.items()):
        if not name.startswith("openai.resources") or module is None:
            continue
        for cls in vars(module).values():
            if not isinstance(cls, type):
                continue
            for attr, value in list(vars(cls).items()):
                while type(value).__name__ == "FunctionWrapper":
                    value = value.__wrapped__
                    setattr(cls, attr, value)


def official_openai_v2():
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

    return OpenAIInstrumentor()


def traceloop_openai():
    from opentelemetry.instrumentation.openai import OpenAIInstrumentor

    return OpenAIInstrumentor()


@pytest.mark.sqlite_only  # DB-free; instrumentors patch openai globally, so instrument once per run
@pytest.mark.parametrize("instrumented", [official_openai_v2], indirect=True)
def test_official_openai_v2_spans(records, instrumented):
    server = Server(fixed(200, "openai_chat_completion.json"))
    client = openai_client(server)
    chat(client)
    server.respond = fixed(429, "openai_error_429.json")
    with pytest.raises(openai.RateLimitError):
        chat(client)
    plain, limited = records
    assert (plain["provider_name"], plain["model"], plain["status"]) == ("openai", "o4-mini-2025-04-16", "success")
    # it does not send the 1024 cached nor the 320 reasoning tokens the response has (NEVER_REPORTED)
    assert_tokens(plain, prompt_tokens=1117, completion_tokens=346)
    # its error.type is the class repr "<class 'openai.RateLimitError'>"
    assert limited["status"] == "rate_limited"
    assert limited["error_message"].startswith("RateLimitError: Error code: 429 - Rate limit reached")


@pytest.mark.sqlite_only  # DB-free; instrumentors patch openai globally, so instrument once per run
@pytest.mark.parametrize("instrumented", [traceloop_openai], indirect=True)
def test_traceloop_openai_spans(records, instrumented):
    server = Server(fixed(200, "openai_chat_completion.json"))
    client = openai_client(server)
    chat(client)
    server.respond = fixed(200, "openai_chat_stream.sse", "text/event-stream")
    for _chunk in chat(client, stream=True, stream_options={"include_usage": True}):
        pass
    stream = chat(client, stream=True)
    next(iter(stream))
    del stream  # the app walks away from the stream; Traceloop ends its span when it is collected
    gc.collect()
    plain, streamed, abandoned = records
    # gen_ai.usage.reasoning_tokens (Traceloop's name) is read
    assert_tokens(plain, prompt_tokens=1117, completion_tokens=346, cache_read_tokens=1024, reasoning_tokens=320)
    assert streamed["status"] == "success" and streamed["model"] == "gpt-4o-mini-2024-07-18"
    assert_tokens(streamed, prompt_tokens=1320, completion_tokens=10, cache_read_tokens=1152)
    assert abandoned["status"] == "cancelled"


def test_abandoned_anthropic_sdk_stream_is_cancelled(records):
    provider = TracerProvider()
    provider.add_span_processor(MetricsSpanProcessor())
    server = Server(fixed(200, "anthropic_message_stream.sse", "text/event-stream"))
    http = httpx2.Client(transport=httpx2.MockTransport(server.handler(httpx2.Response, httpx2)))
    client = anthropic.Anthropic(
        api_key="sk-ant-test", http_client=http, max_retries=0, open_telemetry={"tracer_provider": provider}
    )
    stream = client.messages.create(
        model="claude-sonnet-4-6", max_tokens=64, messages=[{"role": "user", "content": "Hi"}], stream=True
    )
    next(iter(stream))
    stream.close()
    [rec] = records
    assert (rec["provider_name"], rec["status"]) == ("claude", "cancelled")


def test_anthropic_sdk_span_carries_the_response_id():
    """The dedupe key: the SDK span's gen_ai.response.id is the Message id instrument() sees."""
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from metrics_core.integrations.otel import span_to_record

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    server = Server(fixed(200, "anthropic_message.json"))
    http = httpx2.Client(transport=httpx2.MockTransport(server.handler(httpx2.Response, httpx2)))
    client = anthropic.Anthropic(
        api_key="sk-ant-test", http_client=http, max_retries=0, open_telemetry={"tracer_provider": provider}
    )
    message = client.messages.create(
        model="claude-sonnet-4-6", max_tokens=64, messages=[{"role": "user", "content": "Hi"}]
    )
    [span] = exporter.get_finished_spans()
    mapped = span_to_record(span)
    assert mapped.response_id == message.id == json.loads(payload("anthropic_message.json"))["id"]
    assert (mapped.source, mapped.usage_known) == ("com.anthropic.sdk.python", True)


def test_litellm_acompletion_span_is_recorded(records, tracer):
    emit(
        tracer,
        {
            "gen_ai.operation.name": "acompletion",
            "llm.request.type": "acompletion",
            "gen_ai.system": "openai",
            "gen_ai.framework": "litellm",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": 21,
            "gen_ai.usage.output_tokens": 5,
        },
        name="litellm_request",
    )
    [rec] = records
    assert (rec["provider_name"], rec["model"], rec["status"]) == ("openai", "gpt-4o", "success")
    assert_tokens(rec, prompt_tokens=21, completion_tokens=5)


def test_openlit_time_to_first_token(records, tracer):
    attrs = {"gen_ai.system": "openai", "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"}
    emit(tracer, {**attrs, "gen_ai.server.time_to_first_token": 0.31, "gen_ai.usage.input_tokens": 9})
    [rec] = records
    assert rec["time_to_first_token_seconds"] == 0.31


def test_openlit_error_span_without_genai_attributes(records, tracer):
    with (
        pytest.raises(openai.APITimeoutError),
        tracer.start_as_current_span("chat gpt-4o-mini", kind=trace_api.SpanKind.CLIENT),
    ):
        raise openai.APITimeoutError(request=httpx2.Request("POST", "https://api.openai.com/v1/chat/completions"))
    [rec] = records
    assert (rec["provider_name"], rec["model"], rec["status"]) == ("openai", "gpt-4o-mini", "timeout")
    assert rec["error_message"] == "APITimeoutError: Request timed out."


def test_current_cache_write_name(records, tracer):
    attrs = {"gen_ai.provider.name": "anthropic", "gen_ai.operation.name": "chat", "gen_ai.request.model": "m"}
    emit(tracer, {**attrs, "gen_ai.usage.input_tokens": 600, "gen_ai.usage.cache_write.input_tokens": 500})
    [rec] = records
    assert_tokens(rec, prompt_tokens=600, cache_write_tokens=500)


@pytest.mark.sqlite_only  # DB-free; instrumentors patch openai globally, so instrument once per run
def test_anthropic_sdk_span_and_traceloop_span_share_the_response_id(records):
    """Two spans for one call (the SDK's own and Traceloop's): the double count, keyed by one response id."""
    from opentelemetry.instrumentation.anthropic import AnthropicInstrumentor
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from metrics_core.integrations.otel import span_to_record

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(MetricsSpanProcessor())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        server = Server(fixed(200, "anthropic_message.json"))
        http = httpx2.Client(transport=httpx2.MockTransport(server.handler(httpx2.Response, httpx2)))
        client = anthropic.Anthropic(
            api_key="sk-ant-test", http_client=http, max_retries=0, open_telemetry={"tracer_provider": provider}
        )
        client.messages.create(model="claude-sonnet-4-6", max_tokens=64, messages=[{"role": "user", "content": "Hi"}])
    finally:
        instrumentor.uninstrument()
    assert len(records) == 2
    for rec in records:
        assert_tokens(rec, prompt_tokens=5021, completion_tokens=12, cache_write_tokens=1800, cache_read_tokens=3200)
    mapped = [span_to_record(span) for span in exporter.get_finished_spans()]
    assert {(m.source, m.response_id) for m in mapped} == {
        ("com.anthropic.sdk.python", "msg_01HCDu5LRGeP2o7s2xGmxyx8"),
        ("traceloop", "msg_01HCDu5LRGeP2o7s2xGmxyx8"),
    }


# --- one provider response is one call: every combination that counted it twice (issue 11, found 1) ---

# anthropic_message.json, claude-sonnet-4-6 ($3 in, $3.75 cache write, $0.30 cache read, $15 out per million):
# 21 x 3 + 1800 x 3.75 + 3200 x 0.30 + 12 x 15 = 63 + 6750 + 960 + 180 = 7953 micro-dollars
ANTHROPIC_COST = Decimal("0.007953")
# openai_chat_completion.json, o4-mini ($1.10 in, $0.275 cached, $4.40 out per million):
# 93 x 1.10 + 1024 x 0.275 + 346 x 4.40 = 102.3 + 281.6 + 1522.4 = 1906.3 micro-dollars
OPENAI_COST = Decimal("0.0019063")


def traced_anthropic(provider, server):
    """An Anthropic client whose built-in tracing (on by default in 2.x) goes to ``provider``."""
    http = httpx2.Client(transport=httpx2.MockTransport(server.handler(httpx2.Response, httpx2)))
    return anthropic.Anthropic(
        api_key="sk-ant-test", http_client=http, max_retries=0, open_telemetry={"tracer_provider": provider}
    )


def processor_provider():
    provider = TracerProvider()
    provider.add_span_processor(MetricsSpanProcessor())
    return provider


def hi(client, **kwargs):
    return client.messages.create(
        model="claude-sonnet-4-6", max_tokens=64, messages=[{"role": "user", "content": "Hi"}], **kwargs
    )


def costs(engine) -> list[Decimal | None]:
    """The stored calls' costs, as the Decimals the table holds."""
    from sqlalchemy import select

    from metrics_core import storage

    with engine.connect() as conn:
        return list(conn.execute(select(storage.requests.c.cost_usd).order_by(storage.requests.c.id)).scalars())


def assert_one_anthropic_call(engine):
    [row] = stored_requests(engine)
    assert (row["provider"], row["model"], row["status"]) == ("claude", "claude-sonnet-4-6", "success")
    tokens = (row["prompt_tokens"], row["completion_tokens"], row["cache_read_tokens"], row["cache_write_tokens"])
    assert tokens == (5021, 12, 3200, 1800)
    assert costs(engine) == [ANTHROPIC_COST]
    assert recording.stats()["duplicates"] == 1


@pytest.mark.sqlite_only
def test_anthropic_sdk_span_and_instrument_are_one_call(engine):
    client = m_anthropic.instrument(
        traced_anthropic(processor_provider(), Server(fixed(200, "anthropic_message.json")))
    )
    hi(client)
    assert_one_anthropic_call(engine)


@pytest.mark.sqlite_only
def test_anthropic_sdk_span_and_instrument_stream_are_one_call(engine):
    server = Server(fixed(200, "anthropic_message_stream.sse", "text/event-stream"))
    client = m_anthropic.instrument(traced_anthropic(processor_provider(), server))
    for _event in hi(client, stream=True):
        pass
    [row] = stored_requests(engine)
    assert (row["prompt_tokens"], row["completion_tokens"], row["cache_read_tokens"]) == (2585, 15, 2048)
    assert recording.stats()["duplicates"] == 1


@pytest.mark.sqlite_only  # instrumentors patch anthropic globally
def test_anthropic_sdk_span_and_traceloop_span_are_one_call(engine):
    from opentelemetry.instrumentation.anthropic import AnthropicInstrumentor

    provider = processor_provider()
    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        hi(traced_anthropic(provider, Server(fixed(200, "anthropic_message.json"))))
    finally:
        instrumentor.uninstrument()
    assert_one_anthropic_call(engine)


@pytest.mark.sqlite_only  # instrumentors patch openai globally
@pytest.mark.parametrize("instrumented", [official_openai_v2, traceloop_openai], indirect=True)
def test_openai_instrument_and_processor_spans_are_one_call(engine, instrumented):
    from metrics_core.integrations import openai as m_openai

    client = m_openai.instrument(openai_client(Server(fixed(200, "openai_chat_completion.json"))))
    chat(client)
    [row] = stored_requests(engine)
    assert (row["provider"], row["model"], row["status"]) == ("openai", "o4-mini-2025-04-16", "success")
    # the complete record wins: instrument() reads the 1024 cached and 320 reasoning tokens
    tokens = (row["prompt_tokens"], row["completion_tokens"], row["cache_read_tokens"], row["reasoning_tokens"])
    assert tokens == (1117, 346, 1024, 320)
    assert costs(engine) == [OPENAI_COST]
    assert recording.stats()["duplicates"] == 1


@pytest.mark.sqlite_only
def test_a_span_without_usage_is_stored_unpriced_not_free(engine):
    tracer = processor_provider().get_tracer("test")
    emit(tracer, {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o"})
    [row] = stored_requests(engine)
    assert costs(engine) == [None] and row["price_source"] == "unpriced"
