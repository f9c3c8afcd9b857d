"""Record Ollama calls: ``chat`` and ``generate``, plain or streamed.

``prompt_tokens`` is ``prompt_eval_count`` and ``completion_tokens`` is ``eval_count``.
``duration_seconds`` is the wall time the app waited (for streams: until the last
chunk), not Ollama's server-side ``total_duration``, so it is comparable across
providers. Ollama reports counts only in the final (``done``) chunk, so a stream
stopped early records no tokens.
"""

from __future__ import annotations

import inspect
from typing import Any

from metrics_core.integrations._common import (
    Call,
    as_int,
    awatch_iter,
    base_path,
    dig,
    finalize_cancels,
    patch_method,
    watch_iter,
)
from metrics_core.integrations.budget_guard import BudgetGuard, check_on_budget

__all__ = ["instrument"]


def instrument(
    client: Any,
    *,
    provider: str = "ollama",
    tags: dict[str, str] | None = None,
    on_budget: str = "raise",
    fallbacks: dict[str, Any] | None = None,
) -> Any:
    """Record every chat/generate call of an ``ollama.Client`` or ``ollama.AsyncClient``; returns it.

    A local provider holds nothing; one configured remote reserves its worst case first
    (``integrations.budget_guard``; the output bound is ``options.num_predict``).
    """
    import ollama

    check_on_budget(on_budget)

    is_async = isinstance(client, ollama.AsyncClient)
    root = base_path(client._client.base_url)
    for name, route in (("chat", "/api/chat"), ("generate", "/api/generate")):
        hooks = _Hooks(provider, tags, root + route, is_async, inspect.signature(getattr(client, name)))
        guard = BudgetGuard(provider, tags, on_budget=on_budget, fallbacks=fallbacks, method=name)
        patch_method(client, name, is_async=is_async, begin=hooks.begin, on_result=hooks.on_result, guard=guard)
    return client


class _Hooks:
    """Hooks for one Ollama method."""

    def __init__(
        self, provider: str, tags: dict[str, str] | None, endpoint: str, is_async: bool, signature: inspect.Signature
    ) -> None:
        self.provider, self.tags, self.endpoint = provider, tags, endpoint
        self.is_async, self.signature = is_async, signature

    def begin(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Call, tuple[Any, ...], dict[str, Any]]:
        model = self.signature.bind_partial(*args, **kwargs).arguments.get("model")
        return Call(provider=self.provider, model=model, endpoint=self.endpoint, tags=self.tags), args, kwargs

    def on_result(self, call: Call, result: Any) -> Any:
        if inspect.isasyncgen(result) or (not self.is_async and inspect.isgenerator(result)):
            watch = awatch_iter if self.is_async else watch_iter
            wrapped = watch(result, call, lambda part: _part(call, part))
            finalize_cancels(wrapped, call)
            return wrapped
        _part(call, result, streamed=False)
        call.succeed()
        return result


def _part(call: Call, part: Any, *, streamed: bool = True) -> bool:
    """Observe a response or stream chunk (``ChatResponse``/``GenerateResponse``)."""
    call.set_model(dig(part, "model"))
    text = dig(part, "response") or dig(part, "thinking")
    has_content = text or any(dig(part, "message", key) for key in ("content", "thinking", "tool_calls"))
    if streamed and has_content:
        call.first_token()
    if dig(part, "done"):
        call.completed = True
        call.prompt_tokens = as_int(dig(part, "prompt_eval_count")) or 0
        call.completion_tokens = as_int(dig(part, "eval_count")) or 0
    return True
