"""One mapping from a GenAI span to a call record, shared by the span processor and the OTLP receiver.

``map_span(view)`` reads a :class:`SpanView` (a neutral copy of a finished span) and returns a
:class:`SpanRecord`, or None when the span is no GenAI inference call. ``ATTRIBUTES`` is the table
of which attribute feeds which field (first match wins); ``NEVER_REPORTED`` says which usage fields
an instrumentation never sends, so a cost computed from its spans may be overstated.

Unknown usage: a span that carries neither input nor output token counts maps with tokens 0 and
``usage_known=False``; :meth:`SpanRecord.arguments` then passes ``prompt_tokens=None,
completion_tokens=None`` so that the call is stored unpriced, never as a $0 priced call.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from metrics_core.recording.record import MAX_RESPONSE_ID

__all__ = [
    "ATTRIBUTES",
    "INFERENCE_OPERATIONS",
    "NEVER_REPORTED",
    "SpanEvent",
    "SpanRecord",
    "SpanView",
    "map_span",
    "never_reported",
]

ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "provider_name": ("gen_ai.provider.name", "gen_ai.system"),
    "model": ("gen_ai.response.model", "gen_ai.request.model", "llm.response.model", "llm.request.model"),
    "prompt_tokens": ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.usage.prompt_tokens"),
    "completion_tokens": (
        "gen_ai.usage.output_tokens",
        "gen_ai.usage.completion_tokens",
        "llm.usage.completion_tokens",
    ),
    "cache_read_tokens": (
        "gen_ai.usage.cache_read.input_tokens",  # current semconv, Anthropic SDK
        "gen_ai.usage.cache_read_input_tokens",  # Traceloop (older)
        "llm.usage.cache_read_input_tokens",
    ),
    "cache_write_tokens": (
        "gen_ai.usage.cache_write.input_tokens",  # current semconv, Anthropic SDK
        "gen_ai.usage.cache_creation.input_tokens",  # semconv before the rename
        "gen_ai.usage.cache_creation_input_tokens",  # Traceloop (older)
        "llm.usage.cache_creation_input_tokens",
    ),
    "reasoning_tokens": (
        "gen_ai.usage.reasoning.output_tokens",  # current semconv, Anthropic SDK
        "gen_ai.usage.reasoning_tokens",  # Traceloop, OpenLIT
        "llm.usage.reasoning_tokens",
    ),
    "time_to_first_token_seconds": (
        "gen_ai.response.time_to_first_chunk",  # semconv, Anthropic SDK
        "gen_ai.server.time_to_first_token",  # OpenLIT
    ),
    "endpoint": ("http.route", "url.path"),
    "response_id": ("gen_ai.response.id",),
    "operation": ("gen_ai.operation.name", "llm.request.type"),
    "stream": ("gen_ai.request.stream", "gen_ai.is_streaming", "llm.is_streaming", "gen_ai.request.is_stream"),
    "finish_reason": (
        "gen_ai.response.finish_reasons",
        "gen_ai.response.finish_reason",
        "llm.response.finish_reason",
        "llm.response.stop_reason",
        "anthropic.message.stop_reason",
    ),
}
"""Record field -> the span attributes read for it, in order (semconv first, then older names and aliases)."""

INFERENCE_OPERATIONS = frozenset(
    {
        "chat",
        "text_completion",
        "generate_content",
        "embeddings",
        "completion",  # Traceloop's llm.request.type, LiteLLM's call type
        "acompletion",
        "atext_completion",
        "embedding",
        "aembedding",
        "messages",
        "anthropic_messages",
        "aanthropic_messages",
        "responses",
        "aresponses",
    }
)
"""Operation names whose spans are model calls (agent, tool and retrieval spans repeat their children)."""

NEVER_REPORTED: dict[str, tuple[str, ...]] = {
    "opentelemetry.instrumentation.openai_v2": ("cache_read_tokens", "reasoning_tokens"),
    "litellm": ("cache_read_tokens", "cache_write_tokens", "reasoning_tokens"),
    "openlit": ("cache_read_tokens", "cache_write_tokens"),
}
"""Source -> usage fields its spans never carry (their cost may be overstated: cached input priced as fresh)."""

PROVIDERS = {"anthropic": "claude", "az.ai.openai": "openai", "azure.ai.openai": "openai"}
ANTHROPIC_SDK = "com.anthropic.sdk.python"
_CLASS_REPR = re.compile(r"<class '(?:[\w.]*\.)?(\w+)'>")
_CANCELLED_TYPES = frozenset({"cancellederror", "generatorexit", "keyboardinterrupt", "abandonedstreamerror"})
_OFFICIAL = frozenset({"openai_v2", "google_genai", "vertexai", "botocore", "httpx", "requests", "urllib3", "aiohttp"})
_FINISHES_STREAMS = frozenset({ANTHROPIC_SDK, "opentelemetry.instrumentation.openai_v2", "traceloop", "otel"})


@dataclass(frozen=True)
class SpanEvent:
    """One span event: its name, attributes and time (ns since the epoch)."""

    name: str
    attributes: Mapping[str, Any] = field(default_factory=dict)
    time_unix_nano: int = 0


@dataclass(frozen=True)
class SpanView:
    """What the mapping reads of a finished span, whatever produced it (SDK span or OTLP).

    ``kind`` is ``client``, ``internal``, ``server``, ``producer``, ``consumer`` or ``unspecified``;
    ``status_code`` is ``unset``, ``ok`` or ``error``.
    """

    name: str
    kind: str = "internal"
    scope_name: str = ""
    scope_version: str = ""
    attributes: Mapping[str, Any] = field(default_factory=dict)
    events: tuple[SpanEvent, ...] = ()
    status_code: str = "unset"
    status_description: str = ""
    start_time_unix_nano: int = 0
    end_time_unix_nano: int = 0
    resource_attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SpanRecord:
    """A mapped span: ``record`` holds the ``record_request`` keyword arguments.

    ``response_id`` is the provider's response id (``gen_ai.response.id``), the dedupe key with the
    provider; ``source`` names the instrumentation; ``usage_known`` is False when the span carried
    no token counts (then the tokens in ``record`` are 0 and the call must be stored unpriced).
    """

    record: dict[str, Any]
    response_id: str | None
    source: str
    usage_known: bool

    def arguments(self) -> dict[str, Any]:
        """The ``record_request`` keyword arguments: with the response id (the dedupe key), and
        ``prompt_tokens=None, completion_tokens=None`` (unpriced) for a successful call whose span
        carried no usage. A failed call without usage keeps its zeros: providers bill no error."""
        usable = self.response_id is not None and 0 < len(self.response_id) <= MAX_RESPONSE_ID
        kwargs = {**self.record, "response_id": self.response_id if usable else None}
        if not self.usage_known and self.record.get("status") == "success":
            kwargs.update(prompt_tokens=None, completion_tokens=None)
        return kwargs


def never_reported(source: str | None) -> tuple[str, ...]:
    """The usage fields that ``source`` never sends (empty when it is unknown or complete)."""
    return NEVER_REPORTED.get(source or "", ())


def map_span(view: SpanView, *, tags: dict[str, str] | None = None) -> SpanRecord | None:
    """The record for a finished GenAI inference span, or None for any other span."""
    attrs = view.attributes
    source = _source(view)
    provider = _first(attrs, "provider_name")
    model = _first(attrs, "model")
    operation = _first(attrs, "operation")
    if provider is None and model is None and operation is None:
        return _bare_error_span(view, source, tags)
    if operation is not None and str(operation) not in INFERENCE_OPERATIONS:
        return None
    if operation is None and model is None:
        return None  # e.g. a provider's list-models span
    status, error_message = _status(view, source)
    tokens = {f: _int(attrs, f) for f in _TOKEN_FIELDS}
    usage_known = tokens["prompt_tokens"] is not None or tokens["completion_tokens"] is not None
    record = _base(view, provider or _provider_from_model(model), model, status, error_message, tags)
    record.update({f: v or 0 for f, v in tokens.items()})
    record["time_to_first_token_seconds"] = _seconds(_first(attrs, "time_to_first_token_seconds"))
    record["endpoint"] = _str_or_none(_first(attrs, "endpoint"))
    _normalize(record)
    response_id = _str_or_none(_first(attrs, "response_id"))
    if response_id is not None and response_id == attrs.get("litellm.call_id"):
        response_id = None  # LiteLLM puts its own call id there when the provider gave none
    return SpanRecord(record=record, response_id=response_id, source=source, usage_known=usage_known)


_TOKEN_FIELDS = ("prompt_tokens", "completion_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens")


def _first(attrs: Mapping[str, Any], field_name: str) -> Any:
    for key in ATTRIBUTES[field_name]:
        value = attrs.get(key)
        if value is not None and value != "" and value != ():
            return value
    return None


def _int(attrs: Mapping[str, Any], field_name: str) -> int | None:
    """The first token count given for ``field_name`` (ints, or digit strings as OTLP JSON may send)."""
    for key in ATTRIBUTES[field_name]:
        value = attrs.get(key)
        if isinstance(value, bool):
            continue
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and value.isdigit():
            return int(value)
    return None


def _seconds(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _str_or_none(value: Any) -> str | None:
    return str(value) if value is not None else None


def _source(view: SpanView) -> str:
    """Which instrumentation made the span (a key of ``NEVER_REPORTED`` where one applies)."""
    scope, attrs = view.scope_name or "", view.attributes
    if scope == ANTHROPIC_SDK:
        return ANTHROPIC_SDK
    official = scope == "opentelemetry.util.genai.handler" and attrs.get("gen_ai.provider.name") == "openai"
    if official or scope.startswith("opentelemetry.instrumentation.openai_v2"):
        return "opentelemetry.instrumentation.openai_v2"  # it makes its spans through util-genai's handler
    if scope == "litellm" or attrs.get("gen_ai.framework") == "litellm":
        return "litellm"
    if scope.startswith("openlit") or attrs.get("telemetry.sdk.name") == "openlit":
        return "openlit"
    package = scope.removeprefix("opentelemetry.instrumentation.")
    if package != scope and package.split(".")[0] not in _OFFICIAL:
        return "traceloop"  # OpenLLMetry names its scopes opentelemetry.instrumentation.<library>
    return scope or "otel"


def _base(view: SpanView, provider: Any, model: Any, status: str, error: str | None, tags: Any) -> dict[str, Any]:
    start, end = view.start_time_unix_nano, view.end_time_unix_nano
    name = str(provider) if provider else "unknown"
    return {
        "provider_name": PROVIDERS.get(name, name),
        "model": str(model) if model else "unknown",
        "status": status,
        "error_message": error,
        "duration_seconds": (end - start) / 1e9 if start and end and end >= start else None,
        "timestamp": datetime.fromtimestamp(start / 1e9, UTC) if start else None,
        "tags": dict(tags) if tags else None,
    }


def _provider_from_model(model: Any) -> str | None:
    """A provider guessed from a well-known model prefix (for spans that name no provider)."""
    text = str(model or "").lower()
    for prefixes, provider in ((("gpt-", "o1", "o3", "o4", "text-embedding-"), "openai"), (("claude",), "claude")):
        if text.startswith(prefixes):
            return provider
    return None


def _bare_error_span(view: SpanView, source: str, tags: Any) -> SpanRecord | None:
    """A failed call whose span has no GenAI attributes (OpenLIT: ``chat gpt-4o`` + an exception event)."""
    operation, _, model = view.name.partition(" ")
    has_exception = any(e.name == "exception" for e in view.events)
    if view.kind != "client" or operation not in INFERENCE_OPERATIONS or not model or not has_exception:
        return None
    status, error_message = _status(view, source)
    record = _base(view, _provider_from_model(model), model, status, error_message, tags)
    record.update(dict.fromkeys(_TOKEN_FIELDS, 0))
    record.update({"time_to_first_token_seconds": None, "endpoint": None})
    return SpanRecord(record=record, response_id=None, source=source, usage_known=False)


def _normalize(record: dict[str, Any]) -> None:
    """Semconv counts cached tokens in the input and reasoning in the output; add parts that exceed them."""
    cached = record["cache_read_tokens"] + record["cache_write_tokens"]
    if cached > record["prompt_tokens"]:
        record["prompt_tokens"] += cached
    if record["reasoning_tokens"] > record["completion_tokens"]:
        record["completion_tokens"] += record["reasoning_tokens"]


def _short_type(text: str) -> str:
    """``<class 'openai.RateLimitError'>`` or ``openai.RateLimitError`` -> ``RateLimitError``."""
    text = _CLASS_REPR.sub(r"\1", text.strip())
    head = text.partition(":")[0]
    last = head.rsplit(".", 1)[-1]
    if " " not in head and "." in head and last[:1].isupper():
        text = last + text[len(head) :]
    return text


def _is_true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _status(view: SpanView, source: str) -> tuple[str, str | None]:
    """``(status, error_message)`` from the span status, ``error.type``, exception events and the stream's end."""
    attrs = view.attributes
    error_type = _str_or_none(attrs.get("error.type"))
    if view.status_code != "error" and not error_type:
        stream_cut = _is_true(_first(attrs, "stream")) and _first(attrs, "finish_reason") is None
        if stream_cut and source in _FINISHES_STREAMS:
            return "cancelled", None  # the application stopped reading before the last event
        return "success", None
    description = view.status_description or None
    for event in view.events:
        if event.name == "exception":
            exc_type = _str_or_none(event.attributes.get("exception.type"))
            if not error_type or error_type == "_OTHER":
                error_type = exc_type or error_type
            description = description or _str_or_none(event.attributes.get("exception.message"))
    message = _short_type(description) if description else None
    head = (message or "").partition(":")[0]
    if not error_type and head.isidentifier() and head[:1].isupper():
        error_type = head  # a description written as "<class 'x.Error'>: text"
    error_type = _short_type(error_type or "error")
    message = message or error_type
    if not message.startswith(error_type):
        message = f"{error_type}: {message}"
    key = "".join(ch for ch in error_type.lower() if ch.isalnum())
    if key in _CANCELLED_TYPES or "abandoned stream" in message:
        return "cancelled", message
    if attrs.get("http.response.status_code") == 429 or "ratelimit" in key or key == "429":
        return "rate_limited", message
    if "timeout" in key or key in {"408", "504"}:
        return "timeout", message
    if "cancel" in key:
        return "cancelled", message
    return "failed", message
