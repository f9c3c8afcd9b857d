"""Turn OpenTelemetry GenAI spans into records: ``provider.add_span_processor(MetricsSpanProcessor())``.

A span is recorded when it has ``gen_ai.provider.name`` (or the older ``gen_ai.system``)
and is an inference span: ``gen_ai.operation.name`` is chat, text_completion,
generate_content or embeddings, or is absent while a model is named. Agent and tool
spans are skipped, as they repeat their child inference spans' usage.
``gen_ai.usage.input_tokens`` already includes cached tokens (semconv), so it is
``prompt_tokens`` as is (unless the cached parts exceed it: then they are added).
Use either this processor or ``instrument()`` for one client, not both, or its calls
are recorded twice.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from metrics_core.integrations import _common
from metrics_core.integrations._common import as_int

try:  # the SDK is optional: without it the class still works by duck typing
    from opentelemetry.sdk.trace import SpanProcessor as _Base
except ImportError:  # pragma: no cover - exercised only without opentelemetry-sdk
    _Base = object  # type: ignore[assignment,misc]

__all__ = ["MetricsSpanProcessor"]

log = logging.getLogger("metrics_core.integrations")

PROVIDERS = {"anthropic": "claude"}
INFERENCE_OPERATIONS = frozenset({"chat", "text_completion", "generate_content", "embeddings"})
_KEYS = {
    "prompt_tokens": ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"),
    "completion_tokens": ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"),
    "cache_read_tokens": ("gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens"),
    "cache_write_tokens": (
        "gen_ai.usage.cache_creation.input_tokens",
        "gen_ai.usage.cache_write.input_tokens",
        "gen_ai.usage.cache_creation_input_tokens",
    ),
    "reasoning_tokens": ("gen_ai.usage.reasoning.output_tokens",),
}


class MetricsSpanProcessor(_Base):
    """A span processor whose ``on_end`` records each finished GenAI inference span."""

    def __init__(self, *, tags: dict[str, str] | None = None) -> None:
        self.tags = dict(tags) if tags else None

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        """Nothing to do when a span starts."""

    def on_end(self, span: Any) -> None:
        """Record ``span`` if it is a GenAI inference span; never raises."""
        try:
            kwargs = span_to_record(span, tags=self.tags)
            if kwargs is not None:
                _common.record(**kwargs)
        except Exception:
            log.exception("could not record span %r", getattr(span, "name", span))

    def shutdown(self) -> None:
        """Nothing to release."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Records are written as spans end, so there is nothing to flush."""
        return True


def span_to_record(span: Any, *, tags: dict[str, str] | None = None) -> dict[str, Any] | None:
    """The ``record_request`` arguments for a finished span, or None if it is no inference span."""
    attrs = dict(span.attributes or {})
    provider = attrs.get("gen_ai.provider.name") or attrs.get("gen_ai.system")
    model = attrs.get("gen_ai.response.model") or attrs.get("gen_ai.request.model")
    operation = attrs.get("gen_ai.operation.name")
    if not provider or (operation not in INFERENCE_OPERATIONS if operation else not model):
        return None
    status, error_message = _status(span, attrs)
    start, end = span.start_time, span.end_time
    record: dict[str, Any] = {
        "provider_name": PROVIDERS.get(str(provider), str(provider)),
        "model": str(model or "unknown"),
        "status": status,
        "error_message": error_message,
        "duration_seconds": (end - start) / 1e9 if start and end else None,
        "endpoint": attrs.get("http.route") or attrs.get("url.path"),
        "time_to_first_token_seconds": _seconds(attrs.get("gen_ai.response.time_to_first_chunk")),
        "tags": tags,
        "timestamp": datetime.fromtimestamp(start / 1e9, UTC) if start else None,
    }
    for field, keys in _KEYS.items():
        record[field] = next((v for v in map(as_int, map(attrs.get, keys)) if v is not None), 0)
    _normalize(record)
    return record


def _normalize(record: dict[str, Any]) -> None:
    """Fix instrumentations whose input/output counts leave out cached/reasoning tokens.

    Semconv counts cached tokens in ``input_tokens`` and reasoning tokens in ``output_tokens``;
    a span whose parts exceed the total (Anthropic-style usage) gets the parts added.
    """
    cached = record["cache_read_tokens"] + record["cache_write_tokens"]
    if cached > record["prompt_tokens"]:
        record["prompt_tokens"] += cached
    if record["reasoning_tokens"] > record["completion_tokens"]:
        record["completion_tokens"] += record["reasoning_tokens"]


def _seconds(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _status(span: Any, attrs: dict[str, Any]) -> tuple[str, str | None]:
    """``(status, error_message)`` from the span status, ``error.type`` and HTTP status."""
    error_type = attrs.get("error.type")
    code = getattr(getattr(span.status, "status_code", None), "name", "UNSET")
    if code != "ERROR" and not error_type:
        return "success", None
    description = getattr(span.status, "description", None)
    for event in getattr(span, "events", None) or ():
        if event.name == "exception":
            details = event.attributes or {}
            error_type = error_type or details.get("exception.type")
            description = description or details.get("exception.message")
    error_type = str(error_type or "error")
    message = str(description) if description else error_type
    if not message.startswith(error_type):
        message = f"{error_type}: {message}"
    key = "".join(ch for ch in error_type.lower() if ch.isalnum())
    if attrs.get("http.response.status_code") == 429 or "ratelimit" in key or key == "429":
        return "rate_limited", message
    if "timeout" in key or key in {"408", "504"}:
        return "timeout", message
    if "cancel" in key:
        return "cancelled", message
    return "failed", message
