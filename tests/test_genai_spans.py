"""The span -> record mapping (genai_spans.map_span): one exact record per case of the attribute table."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from metrics_core.integrations.genai_spans import (
    ATTRIBUTES,
    NEVER_REPORTED,
    SpanEvent,
    SpanView,
    map_span,
    never_reported,
)

pytestmark = pytest.mark.sqlite_only

T0 = 1_757_947_531_250_000_000  # ns since epoch
AT = datetime(2025, 9, 15, 14, 45, 31, 250000, tzinfo=UTC)
ZERO = dict.fromkeys(
    ("prompt_tokens", "completion_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens"), 0
)


def view(attributes, *, name="chat m", scope="test", status="unset", description="", events=(), kind="client"):
    return SpanView(
        name=name,
        kind=kind,
        scope_name=scope,
        attributes=attributes,
        events=tuple(events),
        status_code=status,
        status_description=description,
        start_time_unix_nano=T0,
        end_time_unix_nano=T0 + 2_000_000_000,
    )


def expected(provider, model, status="success", error=None, ttft=None, endpoint=None, **tokens):
    return {
        "provider_name": provider,
        "model": model,
        "status": status,
        "error_message": error,
        "duration_seconds": 2.0,
        "timestamp": AT,
        "tags": None,
        **ZERO,
        **tokens,
        "time_to_first_token_seconds": ttft,
        "endpoint": endpoint,
    }


CASES = [
    pytest.param(
        {
            "gen_ai.provider.name": "openai",
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.response.model": "gpt-4o-2024-08-06",
            "gen_ai.response.id": "chatcmpl-1",
            "gen_ai.usage.input_tokens": 1320,
            "gen_ai.usage.output_tokens": 210,
            "gen_ai.usage.cache_read.input_tokens": 1152,
            "gen_ai.usage.cache_write.input_tokens": 64,
            "gen_ai.usage.reasoning.output_tokens": 128,
            "gen_ai.response.time_to_first_chunk": 0.42,
            "http.route": "/v1/chat/completions",
        },
        expected(
            "openai",
            "gpt-4o-2024-08-06",
            ttft=0.42,
            endpoint="/v1/chat/completions",
            prompt_tokens=1320,
            completion_tokens=210,
            cache_read_tokens=1152,
            cache_write_tokens=64,
            reasoning_tokens=128,
        ),
        id="current-semconv",
    ),
    pytest.param(
        {
            "gen_ai.system": "anthropic",
            "gen_ai.request.model": "claude-3-5-sonnet-20241022",
            "gen_ai.usage.prompt_tokens": 900,
            "gen_ai.usage.completion_tokens": 77,
            "gen_ai.usage.cache_creation.input_tokens": 300,
        },
        expected(
            "claude", "claude-3-5-sonnet-20241022", prompt_tokens=900, completion_tokens=77, cache_write_tokens=300
        ),
        id="older-semconv-cache-creation",
    ),
    pytest.param(
        {
            "gen_ai.system": "openai",
            "llm.request.type": "chat",
            "gen_ai.request.model": "o4-mini",
            "gen_ai.usage.input_tokens": 1117,
            "gen_ai.usage.output_tokens": 346,
            "gen_ai.usage.cache_read_input_tokens": 1024,
            "gen_ai.usage.reasoning_tokens": 320,
        },
        expected(
            "openai", "o4-mini", prompt_tokens=1117, completion_tokens=346, cache_read_tokens=1024, reasoning_tokens=320
        ),
        id="traceloop-aliases",
    ),
    pytest.param(
        {
            "gen_ai.system": "ollama",
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "llama3.2",
            "llm.usage.prompt_tokens": 40,
            "llm.usage.completion_tokens": 8,
        },
        expected("ollama", "llama3.2", prompt_tokens=40, completion_tokens=8),
        id="llm-usage-aliases",
    ),
    pytest.param(
        {
            "telemetry.sdk.name": "openlit",
            "gen_ai.system": "openai",
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.usage.input_tokens": 12,
            "gen_ai.usage.output_tokens": 30,
            "gen_ai.server.time_to_first_token": 0.25,
        },
        expected("openai", "gpt-4o-mini", ttft=0.25, prompt_tokens=12, completion_tokens=30),
        id="openlit-ttft",
    ),
    pytest.param(
        {
            "gen_ai.system": "openai",
            "gen_ai.operation.name": "acompletion",
            "llm.request.type": "acompletion",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": "21",  # OTLP JSON sends 64-bit ints as strings
            "gen_ai.usage.output_tokens": 5,
        },
        expected("openai", "gpt-4o", prompt_tokens=21, completion_tokens=5),
        id="litellm-acompletion",
    ),
    pytest.param(
        {
            "gen_ai.provider.name": "anthropic",
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "claude-sonnet-4-6",
            "gen_ai.usage.input_tokens": 25,  # an instrumentation that leaves the cached tokens out
            "gen_ai.usage.output_tokens": 15,
            "gen_ai.usage.cache_read.input_tokens": 2048,
            "gen_ai.usage.cache_write.input_tokens": 512,
        },
        expected(
            "claude",
            "claude-sonnet-4-6",
            prompt_tokens=2585,
            completion_tokens=15,
            cache_read_tokens=2048,
            cache_write_tokens=512,
        ),
        id="cached-parts-exceeding-input",
    ),
    pytest.param(
        {
            "gen_ai.provider.name": "openai",
            "gen_ai.operation.name": "embeddings",
            "gen_ai.request.model": "text-embedding-3-small",
            "gen_ai.usage.input_tokens": 8,
        },
        expected("openai", "text-embedding-3-small", prompt_tokens=8),
        id="embeddings",
    ),
]


@pytest.mark.parametrize(("attributes", "record"), CASES)
def test_mapping_table(attributes, record):
    mapped = map_span(view(attributes))
    assert mapped.record == record
    assert mapped.usage_known is True


def test_response_id_and_source():
    attrs = {"gen_ai.provider.name": "anthropic", "gen_ai.request.model": "claude-sonnet-4-6"}
    mapped = map_span(view({**attrs, "gen_ai.response.id": "msg_01"}, scope="com.anthropic.sdk.python"))
    assert (mapped.response_id, mapped.source) == ("msg_01", "com.anthropic.sdk.python")
    assert map_span(view(attrs, scope="")).response_id is None
    assert map_span(view(attrs, scope="")).source == "otel"
    official = view({**attrs, "gen_ai.provider.name": "openai"}, scope="opentelemetry.util.genai.handler")
    assert map_span(official).source == "opentelemetry.instrumentation.openai_v2"
    assert map_span(view({**attrs, "gen_ai.framework": "litellm"}, scope="litellm")).source == "litellm"
    assert map_span(view({**attrs, "telemetry.sdk.name": "openlit"}, scope="openlit.otel.tracing")).source == "openlit"
    traceloop = view({**attrs, "gen_ai.is_streaming": False}, scope="opentelemetry.instrumentation.openai.v1")
    assert map_span(traceloop).source == "traceloop"


def test_unknown_usage_is_flagged_not_free():
    mapped = map_span(
        view({"gen_ai.provider.name": "openai", "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"})
    )
    assert mapped.usage_known is False
    assert mapped.record == expected("openai", "gpt-4o")


@pytest.mark.parametrize(
    "operation",
    [
        "chat",
        "text_completion",
        "generate_content",
        "embeddings",
        "completion",
        "acompletion",
        "aembedding",
        "responses",
    ],
)
def test_inference_operations_are_accepted(operation):
    attrs = {"gen_ai.system": "openai", "gen_ai.operation.name": operation, "gen_ai.request.model": "gpt-4o"}
    assert map_span(view(attrs)).record["model"] == "gpt-4o"


@pytest.mark.parametrize(
    "attributes",
    [
        {"http.request.method": "GET"},
        {"gen_ai.provider.name": "openai", "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search"},
        {"gen_ai.provider.name": "openai", "gen_ai.operation.name": "invoke_agent", "gen_ai.request.model": "gpt-4o"},
        {"gen_ai.provider.name": "anthropic"},  # anthropic.models.list
        {"gen_ai.system": "openai", "gen_ai.operation.name": "image_generation", "gen_ai.request.model": "dall-e-3"},
    ],
)
def test_other_spans_are_skipped(attributes):
    assert map_span(view(attributes, name="span")) is None


def test_openlit_error_span_without_genai_attributes():
    exc = SpanEvent("exception", {"exception.type": "openai.RateLimitError", "exception.message": "Error code: 429"})
    mapped = map_span(view({}, name="chat gpt-4o", status="error", description="Error code: 429", events=[exc]))
    assert mapped.usage_known is False and mapped.response_id is None
    assert mapped.record == expected("openai", "gpt-4o", "rate_limited", "RateLimitError: Error code: 429")
    # the same span shape without an exception, or not a client span, is no call
    assert map_span(view({}, name="chat gpt-4o")) is None
    assert map_span(view({}, name="chat gpt-4o", kind="internal", status="error", events=[exc])) is None


@pytest.mark.parametrize(
    ("error_type", "description", "events", "status", "message"),
    [
        ("<class 'openai.RateLimitError'>", "Error code: 429", (), "rate_limited", "RateLimitError: Error code: 429"),
        (
            None,
            "<class 'openai.APITimeoutError'>: Request timed out.",
            (),
            "timeout",
            "APITimeoutError: Request timed out.",
        ),
        ("rate_limit_error", None, (), "rate_limited", "rate_limit_error"),  # Anthropic SDK's envelope type
        ("client_timeout_error", None, (), "timeout", "client_timeout_error"),
        ("overloaded_error", None, (), "failed", "overloaded_error"),
        (
            "_OTHER",
            "abandoned stream",
            (SpanEvent("exception", {"exception.type": "AbandonedStreamError"}),),
            "cancelled",
            "AbandonedStreamError: abandoned stream",
        ),
        (
            None,
            None,
            (SpanEvent("exception", {"exception.type": "asyncio.exceptions.CancelledError", "exception.message": ""}),),
            "cancelled",
            "CancelledError",
        ),
        ("500", "api.example.com: refused", (), "failed", "500: api.example.com: refused"),
    ],
)
def test_error_statuses(error_type, description, events, status, message):
    attrs = {"gen_ai.provider.name": "openai", "gen_ai.operation.name": "chat", "gen_ai.request.model": "m"}
    if error_type:
        attrs["error.type"] = error_type
    mapped = map_span(view(attrs, status="error", description=description or "", events=events))
    assert (mapped.record["status"], mapped.record["error_message"]) == (status, message)


@pytest.mark.parametrize(
    ("scope", "attributes", "status"),
    [
        ("com.anthropic.sdk.python", {"gen_ai.request.stream": True}, "cancelled"),
        (
            "com.anthropic.sdk.python",
            {"gen_ai.request.stream": True, "anthropic.message.stop_reason": "end_turn"},
            "success",
        ),
        ("opentelemetry.instrumentation.openai.v1", {"gen_ai.is_streaming": True}, "cancelled"),
        (
            "opentelemetry.instrumentation.openai.v1",
            {"gen_ai.is_streaming": True, "gen_ai.response.finish_reasons": ("stop",)},
            "success",
        ),
        ("opentelemetry.instrumentation.openai.v1", {"gen_ai.is_streaming": False}, "success"),
        ("litellm", {"llm.is_streaming": "True"}, "success"),  # LiteLLM logs a stream only once it completed
    ],
)
def test_abandoned_streams_are_cancelled(scope, attributes, status):
    attrs = {"gen_ai.provider.name": "openai", "gen_ai.operation.name": "chat", "gen_ai.request.model": "m"}
    assert map_span(view({**attrs, **attributes}, scope=scope)).record["status"] == status


def test_never_reported_fields():
    assert never_reported("opentelemetry.instrumentation.openai_v2") == ("cache_read_tokens", "reasoning_tokens")
    assert "cache_read_tokens" in never_reported("litellm") and "cache_read_tokens" in never_reported("openlit")
    assert never_reported("com.anthropic.sdk.python") == () and never_reported(None) == ()
    assert set(NEVER_REPORTED) == {"opentelemetry.instrumentation.openai_v2", "litellm", "openlit"}


def test_table_names_every_field():
    assert {"prompt_tokens", "cache_write_tokens", "reasoning_tokens", "time_to_first_token_seconds"} <= set(ATTRIBUTES)
    assert ATTRIBUTES["cache_write_tokens"][:2] == (
        "gen_ai.usage.cache_write.input_tokens",
        "gen_ai.usage.cache_creation.input_tokens",
    )


def test_tags_are_copied():
    tags = {"team": "search"}
    mapped = map_span(view({"gen_ai.system": "openai", "gen_ai.request.model": "m"}), tags=tags)
    assert mapped.record["tags"] == {"team": "search"} and mapped.record["tags"] is not tags
