"""Shared plumbing for the SDK integrations: one call state, one way to record."""

from __future__ import annotations

import functools
import inspect
import logging
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from metrics_core import clock
from metrics_core.errors import BudgetExceeded

from ..recording.validate import storable

log = logging.getLogger("metrics_core.integrations")

ORIGINAL = "_metrics_core_original"
"""Attribute on a wrapper that holds the method it wraps (marks it instrumented)."""

_TIMEOUT_CLASSES = frozenset({"APITimeoutError", "TimeoutException", "TimeoutError"})
_TIMEOUT_STATUS = frozenset({408, 504})


_ACTIVE: ContextVar[Call | None] = ContextVar("metrics_core_instrumented_call", default=None)


def active_call() -> Call | None:
    """The ``instrument()``-ed call whose SDK request is running in this context, if any.

    A GenAI span that ends meanwhile (the Anthropic SDK's own, openai-v2's, Traceloop's) is that
    same call, which ``instrument()`` records from the SDK's full usage.
    """
    return _ACTIVE.get()


@contextmanager
def running(call: Call) -> Iterator[None]:
    """Mark ``call`` as the one whose SDK request (or stream read) runs in this context."""
    token = _ACTIVE.set(call)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def record(**kwargs: Any) -> None:
    """Send one call record to the core; the single place integrations record through."""
    from metrics_core import record_request

    record_request(**kwargs)


#: service tiers as the SDKs report them -> ours (anything else is recorded as not said)
_TIERS = {"default": "default", "standard": "default", "auto": "default", "priority": "priority"}
_TIERS |= {"flex": "flex", "batch": "batch"}


def service_tier(value: Any) -> str | None:
    """Our service tier for the one a provider reports (``standard`` -> ``default``), None if unknown."""
    return _TIERS.get(value.lower()) if isinstance(value, str) else None


def classify(exc: BaseException) -> tuple[str, str]:
    """Return ``(status, error_message)`` for an exception raised by a call."""
    text = str(exc)
    message = storable(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)  # NUL, lone surrogates
    if not isinstance(exc, Exception):  # CancelledError, KeyboardInterrupt, ...
        return "cancelled", message
    names = {cls.__name__ for cls in type(exc).__mro__}
    status_code = getattr(exc, "status_code", None)
    if status_code == 429 or "RateLimitError" in names:
        return "rate_limited", message
    if names & _TIMEOUT_CLASSES or status_code in _TIMEOUT_STATUS:
        return "timeout", message
    return "failed", message


def dig(obj: Any, *path: str) -> Any:
    """Follow attributes or mapping keys along ``path``; None when any step is missing."""
    for name in path:
        if obj is None:
            return None
        obj = obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)
    return obj


def as_int(value: Any) -> int | None:
    """``value`` if it is a real int (not bool), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def parsed(result: Any) -> Any:
    """The parsed body of a ``with_raw_response`` result (the SDK caches it), else ``result``."""
    if type(result).__name__ == "LegacyAPIResponse":
        return result.parse()
    return result


def is_unset(value: Any) -> bool:
    """True for the SDKs' "argument not given" sentinels (NotGiven, Omit)."""
    return type(value).__name__ in {"NotGiven", "Omit"}


class Call:
    """The state of one instrumented call; it is recorded exactly once."""

    def __init__(self, *, provider: str, model: Any, endpoint: str | None, tags: dict[str, str] | None) -> None:
        self.provider = provider
        self.model = model if isinstance(model, str) and model else None
        self.endpoint = endpoint
        self.tags = dict(tags) if tags else None
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.cache_read_tokens = 0
        self.cache_write_tokens = 0
        self.reasoning_tokens = 0
        self.service_tier: str | None = None
        self.usage_details: dict[str, int] = {}  # genai-prices usage names, as record_request takes them
        self.ttft: float | None = None
        self.response_id: str | None = None  # the provider's id of the response: the dedupe key
        self.completed = False  # a stream has delivered its final event
        self.hide_usage_chunk = False  # openai: drop the usage-only chunk we asked for
        self.outcome: tuple[str, str | None] = ("success", None)
        self.reservation: Any = None  # a hard-budget hold (budget_guard), settled when the call is recorded
        self.timestamp = clock.now()
        self._start = time.perf_counter()
        self._lock = threading.Lock()
        self._done = False

    def set_model(self, model: Any) -> None:
        """Prefer the model the provider reports over the requested one."""
        if isinstance(model, str) and model:
            self.model = model

    def set_response_id(self, response_id: Any) -> None:
        """Keep the provider's response id (``chatcmpl-...``, ``resp_...``, ``msg_...``) once known."""
        if isinstance(response_id, str) and response_id and self.response_id is None:
            self.response_id = response_id

    def first_token(self) -> None:
        """Note the arrival of the first content chunk (once)."""
        if self.ttft is None:
            self.ttft = time.perf_counter() - self._start

    def succeed(self) -> None:
        """Record the call's outcome (success unless a stream event said otherwise)."""
        self.finish(*self.outcome)

    def fail(self, exc: BaseException) -> None:
        """Record the call as failed by ``exc``."""
        self.finish(*classify(exc))

    def cancel(self) -> None:
        """Record a stream the app stopped early (success if it had already completed)."""
        if self.completed:
            self.succeed()
        else:
            self.finish("cancelled")

    def finish(self, status: str, error_message: str | None = None) -> None:
        """Record the call now, unless it was already recorded."""
        with self._lock:
            if self._done:
                return
            self._done = True
        kwargs = {
            "provider_name": self.provider,
            "model": self.model or "unknown",
            "status": status,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "duration_seconds": time.perf_counter() - self._start,
            "endpoint": self.endpoint,
            "error_message": error_message,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "time_to_first_token_seconds": self.ttft,
            "response_id": self.response_id,
            "tags": self.tags,
            "timestamp": self.timestamp,
        }
        if self.service_tier is not None:
            kwargs["service_tier"] = self.service_tier
        details = {k: v for k, v in self.usage_details.items() if v}
        if details:
            kwargs["usage_details"] = details
        try:
            try:
                self._send(kwargs)
            except ValueError:
                if "service_tier" not in kwargs and "usage_details" not in kwargs:
                    raise
                # a response whose details do not add up: keep the call, priced on its main counts
                log.warning("recording an LLM call to %s without its usage details", self.provider, exc_info=True)
                kwargs.pop("service_tier", None)
                kwargs.pop("usage_details", None)
                self._send(kwargs)
        except Exception:
            log.exception("could not record an LLM call to %s", self.provider)
            if self.reservation is not None:
                self.reservation.release()

    def _send(self, kwargs: dict) -> None:
        if self.reservation is not None:  # records, then releases the hold
            self.reservation.record(**{k: v for k, v in kwargs.items() if k != "provider_name"})
        else:
            record(**kwargs)


def _feed(on_item: Callable[[Any], bool], item: Any) -> bool:
    """Run an item observer, never letting its bugs reach the app; True keeps the item."""
    try:
        return on_item(item) is not False
    except Exception:
        log.exception("could not read a stream item")
        return True


def watch_iter(inner: Iterator[Any], call: Call, on_item: Callable[[Any], bool]) -> Iterator[Any]:
    """Yield ``inner``'s items (those ``on_item`` keeps) and record the stream's outcome."""
    items = iter(inner)
    try:
        while True:
            with running(call):  # not across the yield: the app's code between items is not the call
                try:
                    item = next(items)
                except StopIteration:
                    break
            if _feed(on_item, item):
                yield item
    except GeneratorExit:
        call.cancel()
        close = getattr(inner, "close", None)
        if close is not None:
            close()
        raise
    except BaseException as exc:
        call.fail(exc)
        raise
    call.succeed()


async def awatch_iter(inner: AsyncIterator[Any], call: Call, on_item: Callable[[Any], bool]) -> AsyncIterator[Any]:
    """Async twin of :func:`watch_iter`."""
    items = aiter(inner)
    try:
        while True:
            with running(call):
                try:
                    item = await anext(items)
                except StopAsyncIteration:
                    break
            if _feed(on_item, item):
                yield item
    except GeneratorExit:
        call.cancel()
        raise
    except BaseException as exc:
        call.fail(exc)
        raise
    call.succeed()


def finalize_cancels(obj: Any, call: Call) -> None:
    """Record ``call`` as cancelled when ``obj`` is garbage-collected unfinished."""
    finalizer = weakref.finalize(obj, call.cancel)
    finalizer.atexit = False


def hook_close(obj: Any, call: Call) -> None:
    """Make ``obj.close()`` record ``call`` as cancelled first (holds no strong ref to obj)."""
    func = getattr(getattr(obj, "close", None), "__func__", None)
    if func is None:
        return
    ref = weakref.ref(obj)
    if inspect.iscoroutinefunction(func):

        async def aclose(*args: Any, **kwargs: Any) -> Any:
            call.cancel()
            target = ref()
            return None if target is None else await func(target, *args, **kwargs)

        obj.close = aclose
    else:

        def close(*args: Any, **kwargs: Any) -> Any:
            call.cancel()
            target = ref()
            return None if target is None else func(target, *args, **kwargs)

        obj.close = close


def watch_sdk_stream(stream: Any, call: Call, on_item: Callable[[Any], bool], *, is_async: bool) -> Any:
    """Observe an openai/anthropic ``Stream`` in place: same object, same items."""
    inner = getattr(stream, "_iterator", None)
    if inner is None:
        log.warning("cannot observe a %s; recording it as started only", type(stream).__name__)
        call.succeed()
        return stream
    stream._iterator = (awatch_iter if is_async else watch_iter)(inner, call, on_item)
    hook_close(stream, call)
    finalize_cancels(stream, call)
    return stream


def patch_method(
    obj: Any,
    name: str,
    *,
    is_async: bool,
    begin: Callable[[tuple[Any, ...], dict[str, Any]], tuple[Call, tuple[Any, ...], dict[str, Any]]],
    on_result: Callable[[Call, Any], Any],
    guard: Any = None,
) -> None:
    """Replace ``obj.name`` on the instance by a recording wrapper (re-patching replaces it).

    ``begin`` makes the Call (and may adjust the arguments); ``on_result`` records or
    watches the result and returns what the app gets. ``guard`` (a ``budget_guard.BudgetGuard``)
    reserves the call's worst case before it is sent and may refuse it (``BudgetExceeded``).
    """
    current = getattr(obj, name)
    original = getattr(current, ORIGINAL, current)

    def start(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Call | None, tuple[Any, ...], dict[str, Any]]:
        try:
            return begin(args, kwargs)
        except Exception:
            log.exception("could not start recording %s", name)
            return None, args, kwargs

    def done(call: Call, result: Any) -> Any:
        try:
            return on_result(call, result)
        except Exception:
            log.exception("could not read the result of %s", name)
            call.succeed()
            return result

    if is_async:

        @functools.wraps(original)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            call, args, kwargs = start(args, kwargs)
            if call is None:
                return await original(*args, **kwargs)
            if guard is not None:
                try:
                    kwargs = guard.hold(call, kwargs)
                except BudgetExceeded as exc:
                    method, model = guard.fallback(call, exc)
                    return await method(*args, **({**kwargs, "model": model} if model else kwargs))
            try:
                with running(call):
                    result = await original(*args, **kwargs)
            except BaseException as exc:
                call.fail(exc)
                raise
            return done(call, result)

    else:

        @functools.wraps(original)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            call, args, kwargs = start(args, kwargs)
            if call is None:
                return original(*args, **kwargs)
            if guard is not None:
                try:
                    kwargs = guard.hold(call, kwargs)
                except BudgetExceeded as exc:
                    method, model = guard.fallback(call, exc)
                    return method(*args, **({**kwargs, "model": model} if model else kwargs))
            try:
                with running(call):
                    result = original(*args, **kwargs)
            except BaseException as exc:
                call.fail(exc)
                raise
            return done(call, result)

    setattr(wrapper, ORIGINAL, original)
    setattr(obj, name, wrapper)


def base_path(url: Any) -> str:
    """The path of a client's base URL without its trailing slash ('' for none)."""
    from urllib.parse import urlsplit

    return urlsplit(str(url)).path.rstrip("/")
