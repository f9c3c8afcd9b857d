"""Record Anthropic calls: ``messages.create`` (plain or ``stream=True``) and ``messages.stream``.

``prompt_tokens`` counts every input token: ``input_tokens`` plus
``cache_creation_input_tokens`` (also ``cache_write_tokens``) plus
``cache_read_input_tokens`` (also ``cache_read_tokens``). One-hour cache writes
(``cache_creation.ephemeral_1h_input_tokens``) go to ``usage_details["cache_write_1h_tokens"]``,
web searches (``server_tool_use.web_search_requests``) to ``usage_details["web_searches"]``, and
``usage.service_tier`` (``standard``, ``priority``, ``batch``) to ``service_tier``.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from metrics_core.integrations._common import (
    ORIGINAL,
    Call,
    as_int,
    base_path,
    dig,
    parsed,
    patch_method,
    running,
    service_tier,
    watch_sdk_stream,
)
from metrics_core.integrations.budget_guard import BudgetGuard, check_on_budget

__all__ = ["instrument"]

log = logging.getLogger("metrics_core.integrations")


def instrument(
    client: Any,
    *,
    provider: str = "claude",
    tags: dict[str, str] | None = None,
    on_budget: str = "raise",
    fallbacks: dict[str, Any] | None = None,
) -> Any:
    """Record every message call of an ``Anthropic`` or ``AsyncAnthropic`` client; returns it.

    A call covered by a hard budget reserves its worst case first (``integrations.budget_guard``):
    ``on_budget="raise"`` raises ``BudgetExceeded``; ``"fallback"`` sends ``messages.create`` calls
    to the client in ``fallbacks`` of the next enabled provider by priority.
    """
    import anthropic

    check_on_budget(on_budget)
    guard = BudgetGuard(
        provider, tags, on_budget=on_budget, fallbacks=fallbacks, method="messages.create", set_output_key="max_tokens"
    )
    hooks = _Messages(
        provider, tags, f"{base_path(client.base_url)}/v1/messages", isinstance(client, anthropic.AsyncAnthropic)
    )
    for name in ("with_raw_response", "with_streaming_response"):
        vars(client.messages).pop(name, None)
    patch_method(
        client.messages, "create", is_async=hooks.is_async, begin=hooks.begin, on_result=hooks.on_result, guard=guard
    )
    _patch_stream(client.messages, hooks, guard)
    return client


class _Messages:
    """Hooks shared by ``messages.create`` and ``messages.stream``."""

    def __init__(self, provider: str, tags: dict[str, str] | None, endpoint: str, is_async: bool) -> None:
        self.provider, self.tags, self.endpoint, self.is_async = provider, tags, endpoint, is_async

    def new_call(self, model: Any) -> Call:
        return Call(provider=self.provider, model=model, endpoint=self.endpoint, tags=self.tags)

    def begin(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Call, tuple[Any, ...], dict[str, Any]]:
        return self.new_call(kwargs.get("model")), args, kwargs

    def on_result(self, call: Call, result: Any) -> Any:
        from anthropic import AsyncStream, Stream

        body = parsed(result)
        if isinstance(body, (Stream, AsyncStream)):
            watch_sdk_stream(body, call, lambda event: _event(call, event), is_async=self.is_async)
            return result
        call.set_model(dig(body, "model"))
        call.set_response_id(dig(body, "id"))
        _usage(call, dig(body, "usage"))
        call.succeed()
        return result

    def settle(self, call: Call, raw_stream: Any) -> Any:
        """``on_result`` that never raises (used inside the stream managers)."""
        try:
            return self.on_result(call, raw_stream)
        except Exception:
            log.exception("could not observe an Anthropic stream")
            return raw_stream


def _usage(call: Call, usage: Any) -> None:
    """Merge an Anthropic ``Usage``/``MessageDeltaUsage``; fields it lacks keep their value."""
    if usage is None:
        return

    def pick(name: str, current: int) -> int:
        value = as_int(dig(usage, name))
        return current if value is None else value

    uncached = call.prompt_tokens - call.cache_read_tokens - call.cache_write_tokens
    uncached = pick("input_tokens", uncached)
    one_hour = as_int(dig(usage, "cache_creation", "ephemeral_1h_input_tokens"))
    five_minutes = as_int(dig(usage, "cache_creation", "ephemeral_5m_input_tokens"))
    if one_hour is not None or five_minutes is not None:
        call.usage_details["cache_write_1h_tokens"] = one_hour or 0
        call.cache_write_tokens = (one_hour or 0) + (five_minutes or 0)
    call.cache_write_tokens = pick("cache_creation_input_tokens", call.cache_write_tokens)
    call.cache_read_tokens = pick("cache_read_input_tokens", call.cache_read_tokens)
    call.prompt_tokens = uncached + call.cache_write_tokens + call.cache_read_tokens
    call.completion_tokens = pick("output_tokens", call.completion_tokens)
    thinking = as_int(dig(usage, "output_tokens_details", "thinking_tokens"))
    if thinking is not None:
        call.reasoning_tokens = thinking
    searches = as_int(dig(usage, "server_tool_use", "web_search_requests"))
    if searches is not None:
        call.usage_details["web_searches"] = searches
    tier = service_tier(dig(usage, "service_tier"))
    if tier is not None:
        call.service_tier = tier


def _event(call: Call, event: Any) -> bool:
    """Observe one raw message stream event."""
    kind = dig(event, "type")
    if kind == "message_start":
        call.set_model(dig(event, "message", "model"))
        call.set_response_id(dig(event, "message", "id"))
        _usage(call, dig(event, "message", "usage"))
    elif kind == "content_block_delta":
        call.first_token()
    elif kind == "message_delta":
        _usage(call, dig(event, "usage"))
    elif kind == "message_stop":
        call.completed = True
    return True


def _request_attr(manager: Any) -> str | None:
    """Name of the (name-mangled) request a ``MessageStreamManager`` makes on enter."""
    for cls in type(manager).__mro__:
        name = f"_{cls.__name__.lstrip('_')}__api_request"
        if name in vars(manager):
            return name
    return None


def _patch_stream(messages: Any, hooks: _Messages, guard: BudgetGuard) -> None:
    """Wrap ``messages.stream`` so the request its manager makes on enter is recorded."""
    current = getattr(messages, "stream", None)
    if current is None:
        return
    original = getattr(current, ORIGINAL, current)

    @functools.wraps(original)
    def stream(*args: Any, **kwargs: Any) -> Any:
        manager = original(*args, **kwargs)
        attr = _request_attr(manager)
        if attr is None:
            log.warning("cannot observe %s; this stream is not recorded", type(manager).__name__)
            return manager
        request = getattr(manager, attr)
        run = _async_request if hooks.is_async else _sync_request
        wrapped = run(request, hooks, kwargs, guard)
        setattr(manager, attr, wrapped)
        return manager

    setattr(stream, ORIGINAL, original)
    messages.stream = stream


def _sync_request(request: Any, hooks: _Messages, kwargs: dict[str, Any], guard: BudgetGuard) -> Any:
    def run() -> Any:
        call = hooks.new_call(kwargs.get("model"))
        guard.hold(call, kwargs)  # BudgetExceeded on entering the manager, before the request
        try:
            with running(call):
                raw = request()
        except BaseException as exc:
            call.fail(exc)
            raise
        return hooks.settle(call, raw)

    return run


def _async_request(request: Any, hooks: _Messages, kwargs: dict[str, Any], guard: BudgetGuard) -> Any:
    async def run() -> Any:
        call = hooks.new_call(kwargs.get("model"))
        guard.hold(call, kwargs)
        try:
            with running(call):
                raw = await request
        except BaseException as exc:
            call.fail(exc)
            raise
        return hooks.settle(call, raw)

    return run()
