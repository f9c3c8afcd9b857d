"""Hard budgets for instrumented clients: each call reserves its worst case before it is sent.

``instrument(client)`` hands its wrapped methods a ``BudgetGuard``. Before the SDK sends a request,
the guard calls ``metrics_core.reserve`` with the request's output bound (``max_tokens``,
``max_completion_tokens``, ``max_output_tokens``; Ollama's ``options.num_predict``) and a prompt
bound: the UTF-8 byte count of the whole request as JSON (which covers the chat format's per-message
tokens too) plus ``PART_ALLOWANCE_TOKENS`` per image, audio or file part (their tokens are not in the
text). When no hard budget covers the call nothing is held; when one does and the request has no
output bound, the guard sets one (``LLM_METRICS_DEFAULT_MAX_OUTPUT_TOKENS``) so the provider keeps to
what was held. A budget that would be exceeded raises ``BudgetExceeded`` before the request is sent;
with ``on_budget="fallback"`` the guard asks ``pick_provider`` for the next enabled provider by
priority and, when the app gave a client for it (``fallbacks={"ollama": other_client}``), sends the
same request there instead (a ``(client, model)`` pair asks it for another model). The call is
settled when it is recorded (for streams: when they end).

If the metrics database cannot be read, the call goes ahead unguarded (recording never breaks the
app) and a warning is logged.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from metrics_core.config import settings
from metrics_core.errors import BudgetExceeded
from metrics_core.integrations._common import Call, as_int, is_unset
from metrics_core.policy.providers import pick_provider
from metrics_core.policy.reservations import reserve

log = logging.getLogger("metrics_core.integrations")

ON_BUDGET = ("raise", "fallback")
OUTPUT_KEYS = ("max_completion_tokens", "max_tokens", "max_output_tokens")
#: tokens allowed per non-text part (an image is at most a few thousand tokens at any provider)
PART_ALLOWANCE_TOKENS = 10_000
_PART_TYPES = frozenset({"image", "image_url", "input_image", "document", "file", "input_file", "input_audio"})


def check_on_budget(on_budget: str) -> str:
    if on_budget not in ON_BUDGET:
        raise ValueError(f"on_budget must be one of {', '.join(ON_BUDGET)}; got {on_budget!r}")
    return on_budget


def output_bound(kwargs: Mapping[str, Any]) -> int | None:
    """The request's own output bound, if it sets one."""
    for key in OUTPUT_KEYS:
        value = as_int(kwargs.get(key))
        if value is not None and value >= 0:
            return value
    options = kwargs.get("options")
    value = as_int(options.get("num_predict")) if isinstance(options, Mapping) else None
    return value if value is not None and value >= 0 else None


def _parts(value: Any) -> int:
    if isinstance(value, Mapping):
        own = 1 if value.get("type") in _PART_TYPES or "images" in value else 0
        images = value.get("images")
        extra = len(images) if isinstance(images, list) else 0
        return own + extra + sum(_parts(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(_parts(v) for v in value)
    return 0


def prompt_bound_text(kwargs: Mapping[str, Any]) -> tuple[str, int]:
    """(the request as JSON text, the allowance for its non-text parts in tokens)."""
    body = {k: v for k, v in kwargs.items() if not is_unset(v)}
    return json.dumps(body, default=str, ensure_ascii=False), _parts(body) * PART_ALLOWANCE_TOKENS


class BudgetGuard:
    """Reserves each call of one wrapped method (see the module docstring)."""

    def __init__(
        self,
        provider: str,
        tags: Mapping[str, str] | None,
        *,
        on_budget: str = "raise",
        set_output_key: str | None = None,
        fallbacks: Mapping[str, Any] | None = None,
        method: str = "",
    ) -> None:
        self.provider, self.tags = provider, dict(tags) if tags else None
        self.on_budget = check_on_budget(on_budget)
        self.set_output_key, self.method = set_output_key, method
        self.fallbacks = dict(fallbacks or {})

    def hold(self, call: Call, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Reserve ``call`` (may raise ``BudgetExceeded``); the request's kwargs, maybe with an output bound."""
        if call.model is None:
            return kwargs
        bound = output_bound(kwargs)
        max_output = bound if bound is not None else settings().default_max_output_tokens
        text, allowance = prompt_bound_text(kwargs)
        try:
            r = reserve(
                call.provider,
                call.model,
                prompt_tokens=len(text.encode("utf-8")) + allowance,
                max_output_tokens=max_output,
                tags=call.tags,
            )
        except BudgetExceeded:
            raise
        except Exception:
            log.warning(
                "could not check the hard budgets for a call to %s; it goes ahead", call.provider, exc_info=True
            )
            return kwargs
        if r.holds:
            call.reservation = r
            if bound is None and self.set_output_key:
                kwargs = {**kwargs, self.set_output_key: max_output}
        return kwargs

    def fallback(self, call: Call, exc: BudgetExceeded) -> tuple[Any, str | None]:
        """(the same method on the next provider's client, the model to ask it for) when
        ``on_budget="fallback"`` and the app gave a client for that provider; else raise ``exc``."""
        if self.on_budget != "fallback":
            raise exc
        nxt = pick_provider(exclude=(call.provider,), tags=call.tags)
        target = self.fallbacks.get(nxt["name"]) if nxt else None
        if target is None:
            raise exc
        client, model = target if isinstance(target, tuple) else (target, None)
        method: Any = client
        for name in self.method.split("."):
            method = getattr(method, name)
        log.info("hard budget %r: sending this call to %s instead of %s", exc.budget, nxt["name"], call.provider)
        return method, model
