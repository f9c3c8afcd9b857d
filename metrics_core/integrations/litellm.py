"""Record LiteLLM calls: ``litellm.callbacks = [MetricsCallback()]``.

A LiteLLM ``CustomLogger`` whose success and failure hooks (sync and async) record each call:
tokens from LiteLLM's usage (cached and reasoning tokens included), the provider from its
``custom_llm_provider`` (``anthropic`` becomes ``claude``), rate limits and timeouts as
``rate_limited`` and ``timeout``. LiteLLM calls its hooks once a stream has been read to the
end; a stream the application abandons is never reported by LiteLLM, so it is not recorded.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from metrics_core.integrations import _common
from metrics_core.integrations._common import as_int, dig
from metrics_core.integrations.genai_spans import SpanRecord

try:  # litellm is optional: without it the class is a plain object with the same hooks
    from litellm.integrations.custom_logger import CustomLogger as _Base
except ImportError:  # pragma: no cover - exercised only without litellm
    _Base = object  # type: ignore[assignment,misc]

__all__ = ["PROVIDERS", "MetricsCallback", "call_to_record"]

log = logging.getLogger("metrics_core.integrations")

PROVIDERS = {
    "anthropic": "claude",
    "anthropic_text": "claude",
    "openai": "openai",
    "text-completion-openai": "openai",
    "ollama": "ollama",
    "ollama_chat": "ollama",
}
"""LiteLLM's ``custom_llm_provider`` -> our provider name (others are kept as LiteLLM names them)."""

_RECENT = 10_000  # call ids remembered so a call whose hooks both fire is recorded once


class MetricsCallback(_Base):
    """A LiteLLM callback that records every completed or failed call."""

    def __init__(self, *, tags: dict[str, str] | None = None) -> None:
        if _Base is not object:
            super().__init__()
        self.tags = dict(tags) if tags else None
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
        """Record a successful call (streams: once the last chunk was read)."""
        self._record(kwargs, response_obj, start_time, end_time, None)

    def log_failure_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
        """Record a failed call."""
        self._record(kwargs, response_obj, start_time, end_time, _exception(kwargs))

    async def async_log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
        """Async twin of :meth:`log_success_event`."""
        self._record(kwargs, response_obj, start_time, end_time, None)

    async def async_log_failure_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
        """Async twin of :meth:`log_failure_event`."""
        self._record(kwargs, response_obj, start_time, end_time, _exception(kwargs))

    def _record(self, kwargs: Any, response_obj: Any, start: Any, end: Any, exc: BaseException | None) -> None:
        try:
            if not self._first_time(kwargs):
                return
            mapped = call_to_record(kwargs, response_obj, start, end, exc, tags=self.tags)
            _common.record(**mapped.arguments())
        except Exception:
            log.exception("could not record a LiteLLM call")

    def _first_time(self, kwargs: Any) -> bool:
        call_id = kwargs.get("litellm_call_id") if isinstance(kwargs, Mapping) else None
        if not call_id:
            return True
        with self._lock:
            if call_id in self._seen:
                return False
            self._seen[call_id] = None
            if len(self._seen) > _RECENT:
                self._seen.popitem(last=False)
        return True


def _exception(kwargs: Any) -> BaseException:
    exc = kwargs.get("exception") if isinstance(kwargs, Mapping) else None
    return exc if isinstance(exc, BaseException) else RuntimeError(_payload(kwargs).get("error_str") or "error")


def _payload(kwargs: Any) -> Mapping[str, Any]:
    payload = kwargs.get("standard_logging_object") if isinstance(kwargs, Mapping) else None
    return payload if isinstance(payload, Mapping) else {}


def _when(epoch: Any, moment: Any) -> datetime | None:
    """A UTC datetime from LiteLLM's epoch seconds, else from its (naive, local) datetime."""
    if isinstance(epoch, (int, float)) and not isinstance(epoch, bool):
        return datetime.fromtimestamp(epoch, UTC)
    if isinstance(moment, datetime):
        return moment.astimezone(UTC)
    return None


def _error(exc: BaseException) -> tuple[str, str]:
    """Our status and message for a LiteLLM exception (without its ``litellm.X:`` prefix)."""
    status, _ = _common.classify(exc)
    name = type(exc).__name__
    text = str(exc).removeprefix(f"litellm.{name}: ").strip()
    return status, f"{name}: {text}" if text else name


def call_to_record(
    kwargs: Mapping[str, Any],
    response_obj: Any,
    start_time: Any,
    end_time: Any,
    exc: BaseException | None = None,
    *,
    tags: dict[str, str] | None = None,
) -> SpanRecord:
    """The record of one LiteLLM call, in the same shape as a mapped span (``source="litellm"``)."""
    payload = _payload(kwargs)
    params = kwargs.get("litellm_params") or {}
    provider = str(
        kwargs.get("custom_llm_provider")
        or payload.get("custom_llm_provider")
        or params.get("custom_llm_provider")
        or "unknown"
    )
    model = dig(response_obj, "model") if exc is None else None
    model = model or payload.get("model") or kwargs.get("model") or "unknown"
    started = _when(payload.get("startTime"), start_time)
    ended = _when(payload.get("endTime"), end_time)
    first = _when(payload.get("completionStartTime"), kwargs.get("completion_start_time"))
    streamed = bool(kwargs.get("stream") or payload.get("stream"))
    status, message = ("success", None) if exc is None else _error(exc)
    usage = dig(response_obj, "usage") if exc is None else None
    tokens = _tokens(usage)
    record = {
        "provider_name": PROVIDERS.get(provider, provider),
        "model": str(model),
        "status": status,
        "error_message": message,
        "duration_seconds": (ended - started).total_seconds() if started and ended else None,
        "timestamp": started,
        "tags": dict(tags) if tags else None,
        **(tokens or dict.fromkeys(_FIELDS, 0)),
        "time_to_first_token_seconds": (first - started).total_seconds() if streamed and first and started else None,
        "endpoint": None,
    }
    response_id = dig(response_obj, "id") if exc is None else None
    return SpanRecord(record=record, response_id=response_id, source="litellm", usage_known=tokens is not None)


_FIELDS = ("prompt_tokens", "completion_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens")


def _tokens(usage: Any) -> dict[str, int] | None:
    """Our token fields from LiteLLM's OpenAI-shaped ``Usage`` (None when it has no counts)."""
    prompt, completion = as_int(dig(usage, "prompt_tokens")), as_int(dig(usage, "completion_tokens"))
    if prompt is None and completion is None:
        return None
    cache_read = as_int(dig(usage, "prompt_tokens_details", "cached_tokens"))
    cache_read = cache_read if cache_read is not None else as_int(dig(usage, "cache_read_input_tokens"))
    tokens = {
        "prompt_tokens": prompt or 0,
        "completion_tokens": completion or 0,
        "cache_read_tokens": cache_read or 0,
        "cache_write_tokens": as_int(dig(usage, "cache_creation_input_tokens")) or 0,
        "reasoning_tokens": as_int(dig(usage, "completion_tokens_details", "reasoning_tokens")) or 0,
    }
    cached = tokens["cache_read_tokens"] + tokens["cache_write_tokens"]
    if cached > tokens["prompt_tokens"]:  # a usage that counts cached input apart
        tokens["prompt_tokens"] += cached
    return tokens
