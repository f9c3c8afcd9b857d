"""``record_request()``: validate on the caller's thread, queue for the writer (about a microsecond)."""

from __future__ import annotations

import time
from datetime import datetime

from . import validate
from .validate import (
    ERROR_MARGIN,
    MAX_ENDPOINT,
    MAX_MODEL,
    MAX_NAME,
    MAX_SECONDS,
    STATUS_SET,
    STATUSES,
    whole_tokens,
)
from .writer import get_writer


def record_request(
    *,
    provider_name: str,
    model: str,
    status: str,
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    duration_seconds: float | None = None,
    endpoint: str | None = None,
    error_message: str | None = None,
    cache_read_tokens: int = 0,
    cache_write_tokens: int = 0,
    reasoning_tokens: int = 0,
    time_to_first_token_seconds: float | None = None,
    tags: dict[str, str] | None = None,
    timestamp: datetime | None = None,
    sync: bool | None = None,
    _into: list | None = None,
) -> None:
    """Record one LLM call. Cheap: validates, queues, returns; a background thread writes it.

    Args:
        provider_name: ``ollama``, ``localai``, ``claude``, ``openai`` or any other name (a new
            name is registered on first use: remote, unless listed in LLM_METRICS_LOCAL_PROVIDERS).
        model: the model name as sent to the provider.
        status: one of ``success``, ``failed``, ``timeout``, ``rate_limited``, ``cancelled``.
        prompt_tokens: every input token, cache reads and writes included.
        completion_tokens: every output token, reasoning tokens included.
        duration_seconds: wall time of the call.
        endpoint: the API path called, e.g. ``/v1/messages``.
        error_message: what went wrong (secrets are redacted and the text truncated when stored).
        cache_read_tokens: how many of ``prompt_tokens`` were read from the provider's cache.
        cache_write_tokens: how many of ``prompt_tokens`` were written to the cache.
        reasoning_tokens: how many of ``completion_tokens`` were reasoning.
        time_to_first_token_seconds: for streams, the wait for the first token.
        tags: labels such as ``{"project": "search", "user": "ana"}``.
        timestamp: when the call started (timezone-aware); default now.
        sync: True writes before returning; default from LLM_METRICS_SYNC.
        _into: internal (the HTTP API): append the validated record to this list instead of
            queueing it, so a whole batch is validated before any of it is written.

    Raises:
        ValueError: an argument is invalid; nothing is recorded. Storage faults never raise.
    """
    if (
        provider_name.__class__ is not str
        or not provider_name
        or len(provider_name) > MAX_NAME
        or provider_name.isspace()
        or not provider_name.isascii()
        or "\x00" in provider_name
    ):
        validate.name("provider_name", provider_name, MAX_NAME)
    if (
        model.__class__ is not str
        or not model
        or len(model) > MAX_MODEL
        or model.isspace()
        or not model.isascii()
        or "\x00" in model
    ):
        validate.name("model", model, MAX_MODEL)
    if status.__class__ is not str or status not in STATUS_SET:
        validate.status(status, STATUSES)
    prompt_tokens = whole_tokens("prompt_tokens", prompt_tokens)
    completion_tokens = whole_tokens("completion_tokens", completion_tokens)
    if cache_read_tokens or cache_write_tokens or reasoning_tokens:
        cache_read_tokens = whole_tokens("cache_read_tokens", cache_read_tokens)
        cache_write_tokens = whole_tokens("cache_write_tokens", cache_write_tokens)
        reasoning_tokens = whole_tokens("reasoning_tokens", reasoning_tokens)
        if cache_read_tokens + cache_write_tokens > prompt_tokens:
            raise ValueError(
                "cache_read_tokens + cache_write_tokens must not exceed prompt_tokens (prompt_tokens counts "
                f"every input token, cached ones included); got {cache_read_tokens} + {cache_write_tokens} > "
                f"{prompt_tokens}. For Anthropic, prompt_tokens = input_tokens + cache_creation_input_tokens "
                "+ cache_read_input_tokens."
            )
        if reasoning_tokens > completion_tokens:
            raise ValueError(
                f"reasoning_tokens must not exceed completion_tokens (which include them); got {reasoning_tokens} > "
                f"{completion_tokens}"
            )
    else:
        cache_read_tokens = cache_write_tokens = reasoning_tokens = 0
    if duration_seconds is not None and (
        duration_seconds.__class__ is not float or not 0 <= duration_seconds <= MAX_SECONDS
    ):
        duration_seconds = validate.seconds("duration_seconds", duration_seconds)
    if time_to_first_token_seconds is not None:
        time_to_first_token_seconds = validate.seconds("time_to_first_token_seconds", time_to_first_token_seconds)
        validate.first_token(time_to_first_token_seconds, duration_seconds)
    if endpoint is not None:
        endpoint = validate.endpoint(endpoint, MAX_ENDPOINT)
    writer = get_writer()
    if error_message is not None:
        if error_message.__class__ is not str:
            error_message = str(error_message)
        if len(error_message) > writer.error_max_chars + ERROR_MARGIN:  # bounded, redacted by the writer
            error_message = error_message[: writer.error_max_chars + ERROR_MARGIN]
        error_message = validate.text("error_message", error_message)
    if tags is not None:
        tags = validate.tags(tags)
    if timestamp is not None:
        timestamp = validate.timestamp(timestamp)
    item = (
        provider_name,
        model,
        status,
        endpoint,
        prompt_tokens,
        completion_tokens,
        cache_read_tokens,
        cache_write_tokens,
        reasoning_tokens,
        duration_seconds,
        time_to_first_token_seconds,
        error_message,
        tags,
        timestamp,
        time.time(),
    )
    if _into is not None:
        _into.append(item)
        return
    if sync or (sync is None and writer.sync):
        writer.write_now(item)
    else:
        writer.put(item)
