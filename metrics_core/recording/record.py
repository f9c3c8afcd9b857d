"""``record_request()``: validate on the caller's thread, queue for the writer (about a microsecond)."""

from __future__ import annotations

import time
from datetime import datetime

from . import dedupe, validate
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

MAX_RESPONSE_ID = 200


def record_request(
    *,
    provider_name: str,
    model: str,
    status: str,
    prompt_tokens: int | None = 0,
    completion_tokens: int | None = 0,
    duration_seconds: float | None = None,
    endpoint: str | None = None,
    error_message: str | None = None,
    cache_read_tokens: int = 0,
    cache_write_tokens: int = 0,
    reasoning_tokens: int = 0,
    time_to_first_token_seconds: float | None = None,
    response_id: str | None = None,
    tags: dict[str, str] | None = None,
    timestamp: datetime | None = None,
    sync: bool | None = None,
    service_tier: str | None = None,
    usage_details: dict[str, int] | None = None,
    _into: list | None = None,
    _marks: list | None = None,
) -> None:
    """Record one LLM call. Cheap: validates, queues, returns; a background thread writes it.

    Args:
        provider_name: ``ollama``, ``localai``, ``claude``, ``openai`` or any other name, in any case
            (``Ollama`` is ``ollama``; a new name is registered on first use, in lower case with the
            name as given as its display name: remote, unless listed in LLM_METRICS_LOCAL_PROVIDERS).
        model: the model name as sent to the provider.
        status: one of ``success``, ``failed``, ``timeout``, ``rate_limited``, ``cancelled``.
        prompt_tokens: every input token, cache reads and writes included; None = not known (the
            call is stored unpriced, with 0 tokens).
        completion_tokens: every output token, reasoning tokens included; None = not known.
        duration_seconds: wall time of the call.
        endpoint: the API path called, e.g. ``/v1/messages``.
        error_message: what went wrong (secrets are redacted and the text truncated when stored).
        cache_read_tokens: how many of ``prompt_tokens`` were read from the provider's cache.
        cache_write_tokens: how many of ``prompt_tokens`` were written to the cache.
        reasoning_tokens: how many of ``completion_tokens`` were reasoning.
        time_to_first_token_seconds: for streams, the wait for the first token.
        response_id: the provider's id of the response (OpenAI ``chatcmpl-...``, Anthropic
            ``msg_...``): a second record with the same provider and id within
            ``dedupe.WINDOW_SECONDS`` in this process is dropped (counted in ``stats()``).
        tags: labels such as ``{"project": "search", "user": "ana"}``.
        timestamp: when the call started (timezone-aware); default now.
        sync: True writes before returning; default from LLM_METRICS_SYNC.
        service_tier: the tier that served the call: ``default``, ``priority``, ``flex`` or ``batch``
            (``auto`` = default); None = not said (priced as default).
        usage_details: further billable quantities by genai-prices usage name (``cache_write_1h_tokens``,
            ``input_audio_tokens``, ``output_audio_tokens``, ``cache_audio_read_tokens``,
            ``input_image_tokens``, ``output_image_tokens``, ``web_searches``, ``code_executions``), whole
            numbers; token kinds are parts of the main counts (2,000 one-hour cache writes:
            ``cache_write_tokens=2000`` and ``{"cache_write_1h_tokens": 2000}``).
        _into: internal (the HTTP API): append the validated record to this list instead of
            queueing it, so a whole batch is validated before any of it is written.
        _marks: internal (the HTTP API): append the ``(provider, response_id)`` key noted for
            deduplication, so it can be forgotten if the batch is not stored.

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
    usage_known = prompt_tokens is not None and completion_tokens is not None
    if usage_known:
        prompt_tokens = whole_tokens("prompt_tokens", prompt_tokens)
        completion_tokens = whole_tokens("completion_tokens", completion_tokens)
    else:  # usage not known: stored unpriced, with 0 tokens
        prompt_tokens = completion_tokens = cache_read_tokens = cache_write_tokens = reasoning_tokens = 0
        usage_details = None
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
    if service_tier is not None:
        service_tier = validate.service_tier(service_tier)
    if usage_details is not None:
        usage_details = validate.usage_details(
            usage_details,
            {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "cache_read_tokens": cache_read_tokens,
                "cache_write_tokens": cache_write_tokens,
            },
        )
    if response_id is not None:
        if response_id.__class__ is not str or not response_id or len(response_id) > MAX_RESPONSE_ID:
            raise ValueError(
                f"response_id must be a non-empty string of at most {MAX_RESPONSE_ID} characters or None, "
                f"got {response_id!r}"
            )
        if dedupe.is_duplicate(provider_name.lower(), response_id):  # names are case-insensitive
            return  # one provider response is one call
        if _marks is not None:
            _marks.append((provider_name.lower(), response_id))
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
        service_tier,
        usage_details,
        usage_known,
    )
    if _into is not None:
        _into.append(item)
        return
    if sync or (sync is None and writer.sync):
        writer.write_now(item)
    else:
        writer.put(item)
