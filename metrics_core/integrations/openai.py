"""Record OpenAI (and OpenAI-compatible) calls: ``chat.completions.create`` and ``responses.create``.

Streams: when the app streams a chat completion without ``stream_options``, this adds
``{"include_usage": True}`` so the final usage chunk arrives, and hides that extra
chunk (empty ``choices``) from the app, which sees exactly the chunks it would have
seen. Pass ``include_stream_usage=False`` to never touch requests (streams then record
no tokens unless the app asks for usage itself).

Besides the token counts: audio tokens (``prompt_tokens_details.audio_tokens``,
``completion_tokens_details.audio_tokens``, cached audio in ``cached_tokens_details``) go to
``usage_details``, as do a Response's web search calls (``web_searches``); the ``service_tier`` the
response names goes to ``service_tier``.
"""

from __future__ import annotations

from typing import Any

from metrics_core.integrations._common import (
    Call,
    as_int,
    base_path,
    dig,
    is_unset,
    parsed,
    patch_method,
    service_tier,
    watch_sdk_stream,
)
from metrics_core.integrations.budget_guard import BudgetGuard, check_on_budget

__all__ = ["instrument"]

_CONTENT_KEYS = ("content", "refusal", "tool_calls", "function_call", "audio", "reasoning_content", "reasoning")


def instrument(
    client: Any,
    *,
    provider: str = "openai",
    tags: dict[str, str] | None = None,
    include_stream_usage: bool = True,
    on_budget: str = "raise",
    fallbacks: dict[str, Any] | None = None,
) -> Any:
    """Record every chat/responses call of an ``OpenAI`` or ``AsyncOpenAI`` client; returns it.

    A call covered by a hard budget reserves its worst case first (``integrations.budget_guard``):
    ``on_budget="raise"`` raises ``BudgetExceeded``; ``"fallback"`` sends it to the client in
    ``fallbacks`` of the next enabled provider by priority, e.g. ``{"ollama": (client, "llama3.2")}``.
    """
    import openai

    check_on_budget(on_budget)

    is_async = isinstance(client, openai.AsyncOpenAI)
    root = base_path(client.base_url)
    chat = _Chat(provider, tags, f"{root}/chat/completions", include_stream_usage, is_async)
    _forget_raw_wrappers(client.chat.completions)
    chat_guard = BudgetGuard(
        provider,
        tags,
        on_budget=on_budget,
        fallbacks=fallbacks,
        method="chat.completions.create",
        set_output_key="max_completion_tokens" if provider == "openai" else "max_tokens",
    )
    patch_method(
        client.chat.completions,
        "create",
        is_async=is_async,
        begin=chat.begin,
        on_result=chat.on_result,
        guard=chat_guard,
    )
    responses = getattr(client, "responses", None)
    if responses is not None:
        resp = _Responses(provider, tags, f"{root}/responses", is_async)
        _forget_raw_wrappers(responses)
        guard = BudgetGuard(
            provider,
            tags,
            on_budget=on_budget,
            fallbacks=fallbacks,
            method="responses.create",
            set_output_key="max_output_tokens",
        )
        patch_method(responses, "create", is_async=is_async, begin=resp.begin, on_result=resp.on_result, guard=guard)
    return client


def _forget_raw_wrappers(resource: Any) -> None:
    """Drop cached ``with_raw_response``/``with_streaming_response`` so they wrap the patched method."""
    for name in ("with_raw_response", "with_streaming_response"):
        vars(resource).pop(name, None)


def _is_stream(result: Any) -> bool:
    from openai import AsyncStream, Stream

    return isinstance(result, (Stream, AsyncStream))


class _Chat:
    """Hooks for ``chat.completions.create``."""

    def __init__(
        self, provider: str, tags: dict[str, str] | None, endpoint: str, add_usage: bool, is_async: bool
    ) -> None:
        self.provider, self.tags, self.endpoint = provider, tags, endpoint
        self.add_usage, self.is_async = add_usage, is_async

    def begin(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Call, tuple[Any, ...], dict[str, Any]]:
        call = Call(provider=self.provider, model=kwargs.get("model"), endpoint=self.endpoint, tags=self.tags)
        options_unset = "stream_options" not in kwargs or is_unset(kwargs["stream_options"])
        if self.add_usage and kwargs.get("stream") is True and options_unset:
            kwargs = {**kwargs, "stream_options": {"include_usage": True}}
            call.hide_usage_chunk = True
        return call, args, kwargs

    def on_result(self, call: Call, result: Any) -> Any:
        body = parsed(result)
        if _is_stream(body):
            watch_sdk_stream(body, call, lambda chunk: _chat_chunk(call, chunk), is_async=self.is_async)
            return result
        call.set_model(dig(body, "model"))
        call.set_response_id(dig(body, "id"))
        _tier(call, body)
        _chat_usage(call, dig(body, "usage"))
        call.succeed()
        return result


def _chat_usage(call: Call, usage: Any) -> None:
    """Copy a ``CompletionUsage`` into the call."""
    if usage is None:
        return
    call.prompt_tokens = as_int(dig(usage, "prompt_tokens")) or 0
    call.completion_tokens = as_int(dig(usage, "completion_tokens")) or 0
    call.cache_read_tokens = as_int(dig(usage, "prompt_tokens_details", "cached_tokens")) or 0
    call.cache_write_tokens = as_int(dig(usage, "prompt_tokens_details", "cache_write_tokens")) or 0
    call.reasoning_tokens = as_int(dig(usage, "completion_tokens_details", "reasoning_tokens")) or 0
    _details(call, dig(usage, "prompt_tokens_details"), dig(usage, "completion_tokens_details"))


def _details(call: Call, inputs: Any, outputs: Any) -> None:
    """Audio (and cached audio) token counts of a usage's input/output details."""
    call.usage_details = {
        "input_audio_tokens": as_int(dig(inputs, "audio_tokens")) or 0,
        "cache_audio_read_tokens": as_int(dig(inputs, "cached_tokens_details", "audio_tokens")) or 0,
        "input_image_tokens": as_int(dig(inputs, "image_tokens")) or 0,
        "output_audio_tokens": as_int(dig(outputs, "audio_tokens")) or 0,
    }


def _tier(call: Call, body: Any) -> None:
    tier = service_tier(dig(body, "service_tier"))
    if tier is not None:
        call.service_tier = tier


def _chat_chunk(call: Call, chunk: Any) -> bool:
    """Observe one ``ChatCompletionChunk``; False hides the usage chunk this module asked for."""
    call.set_model(dig(chunk, "model"))
    call.set_response_id(dig(chunk, "id"))
    _tier(call, chunk)
    choices = dig(chunk, "choices") or []
    for choice in choices:
        delta = dig(choice, "delta")
        if any(dig(delta, key) for key in _CONTENT_KEYS):
            call.first_token()
        if dig(choice, "finish_reason"):
            call.completed = True
    usage = dig(chunk, "usage")
    if usage is not None:
        _chat_usage(call, usage)
        call.completed = True
        if not choices and call.hide_usage_chunk:
            return False
    return True


class _Responses:
    """Hooks for ``responses.create``."""

    def __init__(self, provider: str, tags: dict[str, str] | None, endpoint: str, is_async: bool) -> None:
        self.provider, self.tags, self.endpoint, self.is_async = provider, tags, endpoint, is_async

    def begin(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Call, tuple[Any, ...], dict[str, Any]]:
        return (
            Call(provider=self.provider, model=kwargs.get("model"), endpoint=self.endpoint, tags=self.tags),
            args,
            kwargs,
        )

    def on_result(self, call: Call, result: Any) -> Any:
        body = parsed(result)
        if _is_stream(body):
            watch_sdk_stream(body, call, lambda event: _response_event(call, event), is_async=self.is_async)
            return result
        _response_usage(call, body)
        call.succeed()
        return result


def _response_usage(call: Call, response: Any) -> None:
    """Copy a ``Response``'s model, service tier and ``ResponseUsage`` into the call."""
    call.set_model(dig(response, "model"))
    call.set_response_id(dig(response, "id"))
    _tier(call, response)
    usage = dig(response, "usage")
    if usage is None:
        return
    call.prompt_tokens = as_int(dig(usage, "input_tokens")) or 0
    call.completion_tokens = as_int(dig(usage, "output_tokens")) or 0
    call.cache_read_tokens = as_int(dig(usage, "input_tokens_details", "cached_tokens")) or 0
    call.cache_write_tokens = as_int(dig(usage, "input_tokens_details", "cache_write_tokens")) or 0
    call.reasoning_tokens = as_int(dig(usage, "output_tokens_details", "reasoning_tokens")) or 0
    _details(call, dig(usage, "input_tokens_details"), dig(usage, "output_tokens_details"))
    searches = sum(1 for item in dig(response, "output") or () if dig(item, "type") == "web_search_call")
    if searches:
        call.usage_details["web_searches"] = searches  # the web search tool is billed per call


def _response_event(call: Call, event: Any) -> bool:
    """Observe one Responses stream event."""
    kind = dig(event, "type") or ""
    if kind.endswith(".delta"):
        call.first_token()
    elif kind in {"response.created", "response.in_progress"}:
        call.set_model(dig(event, "response", "model"))
        call.set_response_id(dig(event, "response", "id"))
    elif kind in {"response.completed", "response.incomplete", "response.failed"}:
        _response_usage(call, dig(event, "response"))
        call.completed = True
        if kind == "response.failed":
            error = dig(event, "response", "error")
            call.outcome = ("failed", f"{dig(error, 'code')}: {dig(error, 'message')}")
    elif kind == "error":
        call.completed = True
        call.outcome = ("failed", f"{dig(event, 'code')}: {dig(event, 'message')}")
    return True
