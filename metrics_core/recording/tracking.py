"""``track()``: record a block of code, or every call of a function, as one LLM call.

```python
with metrics_core.track("claude", "claude-sonnet-4-5", endpoint="/v1/messages") as call:
    response = client.messages.create(...)
    call.set_usage(prompt_tokens=..., completion_tokens=...)

@metrics_core.track("openai", "gpt-4o-mini")
async def summarize(text):
    response = await client.chat.completions.create(...)
    metrics_core.current_call().set_usage(prompt_tokens=..., completion_tokens=...)
```

The block is timed with ``time.perf_counter()`` and recorded when it ends: ``success``, or for an
exception ``timeout`` (``TimeoutError`` and any exception class named ``*Timeout``/``*TimeoutError``,
e.g. httpx's), ``rate_limited`` (``*RateLimitError``, or ``status_code == 429``), ``cancelled``
(``asyncio.CancelledError``, ``KeyboardInterrupt`` and other ``BaseException``s that are not
``Exception``s), else ``failed``; the error message is ``"<type>: <message>"``, redacted and
truncated when stored. The exception itself is re-raised unchanged (the same object).

Recording never raises out of the block; wrong *arguments* do: ``track()`` with an empty provider,
``set_usage()`` with negative or inconsistent counts, ``set_model("")`` raise ``ValueError`` where
they are called.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import logging
import time
from datetime import UTC, datetime

from . import validate
from .record import record_request
from .validate import MAX_MODEL, MAX_NAME, STATUSES

log = logging.getLogger("metrics_core")

_USAGE_FIELDS = validate.TOKEN_FIELDS
_current: contextvars.ContextVar[Call | None] = contextvars.ContextVar("metrics_core_call", default=None)


def current_call() -> Call | None:
    """The call being tracked by the innermost ``track()`` of this thread or task, or None."""
    return _current.get()


def status_of(exc: BaseException) -> str:
    """The status an exception ends a call with (see the module docstring)."""
    if not isinstance(exc, Exception):
        return "cancelled"  # asyncio.CancelledError, KeyboardInterrupt, SystemExit, GeneratorExit
    if isinstance(exc, TimeoutError):  # asyncio.TimeoutError and socket.timeout are TimeoutError
        return "timeout"
    names = [cls.__name__ for cls in type(exc).__mro__]
    if any(n.endswith(("Timeout", "TimeoutError", "TimeoutException")) for n in names):
        return "timeout"  # httpx.ReadTimeout, httpx.TimeoutException, openai.APITimeoutError, ...
    if any(n.endswith("RateLimitError") for n in names) or getattr(exc, "status_code", None) == 429:
        return "rate_limited"
    return "failed"


def _error_text(exc: BaseException) -> str:
    try:
        message = str(exc)
    except Exception:  # an exception whose __str__ fails still gets recorded
        message = "<unprintable>"
    return validate.storable(f"{type(exc).__name__}: {message}" if message else type(exc).__name__)


class Call:
    """One tracked call: a context manager (sync and async) and a decorator.

    As a decorator, every invocation of the function is its own call (``current_call()`` inside the
    function gives it). Attributes: ``provider``, ``model``, ``endpoint``, ``tags`` (a dict you may
    add to), ``status``/``error`` (set when the call ends; ``set_status`` overrides).
    """

    __slots__ = (
        "_started",
        "_started_wall",
        "_token",
        "_ttft",
        "_usage",
        "duration",
        "endpoint",
        "error",
        "model",
        "provider",
        "status",
        "tags",
    )

    def __init__(
        self, provider: str, model: str, *, endpoint: str | None = None, tags: dict[str, str] | None = None
    ) -> None:
        self.provider = validate.name("provider", provider, MAX_NAME)
        self.model = validate.name("model", model, MAX_MODEL)
        if endpoint is not None and not isinstance(endpoint, str):
            raise ValueError(f"endpoint must be a string or None, got {endpoint!r}")
        if tags is not None and not isinstance(tags, dict):
            raise ValueError(f"tags must be a dict of str to str, got {type(tags).__name__}")
        self.endpoint = endpoint
        self.tags: dict[str, str] = dict(tags) if tags else {}
        self.status: str | None = None
        self.error: str | None = None
        self.duration: float | None = None
        self._usage = dict.fromkeys(_USAGE_FIELDS, 0)
        self._started: float | None = None
        self._started_wall: float | None = None
        self._ttft: float | None = None
        self._token = None

    # -- what the block tells about the call ---------------------------------------------------
    def set_usage(
        self,
        *,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        cache_read_tokens: int | None = None,
        cache_write_tokens: int | None = None,
        reasoning_tokens: int | None = None,
        service_tier: str | None = None,
        usage_details: dict[str, int] | None = None,
    ) -> None:
        """Set token counts (the ones given; the others keep their value).

        ``prompt_tokens`` counts every input token, cache reads and writes included;
        ``completion_tokens`` includes reasoning tokens. ``service_tier`` and ``usage_details`` are
        as for ``record_request``.

        Raises:
            ValueError: a count is not a whole number >= 0, or the parts exceed their totals.
        """
        given = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "cache_read_tokens": cache_read_tokens,
            "cache_write_tokens": cache_write_tokens,
            "reasoning_tokens": reasoning_tokens,
        }
        usage = dict(self._usage)
        for field, value in given.items():
            if value is not None:
                usage[field] = validate.whole_tokens(field, value)
        if usage["cache_read_tokens"] + usage["cache_write_tokens"] > usage["prompt_tokens"]:
            raise ValueError(
                "cache_read_tokens + cache_write_tokens must not exceed prompt_tokens (which counts every input "
                f"token, cached ones included); got {usage['cache_read_tokens']} + {usage['cache_write_tokens']} > "
                f"{usage['prompt_tokens']}"
            )
        if usage["reasoning_tokens"] > usage["completion_tokens"]:
            raise ValueError(
                f"reasoning_tokens must not exceed completion_tokens (which include them); got "
                f"{usage['reasoning_tokens']} > {usage['completion_tokens']}"
            )
        if service_tier is not None:
            usage["service_tier"] = validate.service_tier(service_tier)
        if usage_details is not None or usage.get("usage_details"):
            usage["usage_details"] = validate.usage_details(
                usage_details if usage_details is not None else usage["usage_details"], usage
            )
        self._usage = usage

    @property
    def usage(self) -> dict:
        """The token counts set so far (and ``service_tier``/``usage_details`` once set)."""
        return dict(self._usage)

    def set_model(self, model: str) -> None:
        """The model that actually answered (e.g. the dated name the provider reports)."""
        self.model = validate.name("model", model, MAX_MODEL)

    def set_status(self, status: str, error: str | None = None) -> None:
        """End the call with this status even though no exception leaves the block (e.g. a caught 429)."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}; got {status!r}")
        self.status, self.error = status, error

    def first_token(self) -> None:
        """Mark the arrival of the first token of a stream (time to first token; later calls are ignored)."""
        if self._ttft is None and self._started is not None:
            self._ttft = time.perf_counter() - self._started

    # -- context manager -------------------------------------------------------------------------
    def __enter__(self) -> Call:
        self.status = self.error = self.duration = None
        self._started_wall = time.time()
        self._started = time.perf_counter()
        self._ttft = None
        self._token = _current.set(self)
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        self._end(exc)
        return False  # the exception, if any, propagates unchanged

    async def __aenter__(self) -> Call:
        return self.__enter__()

    async def __aexit__(self, exc_type, exc, tb) -> bool:
        self._end(exc)
        return False

    def _end(self, exc: BaseException | None) -> None:
        try:
            self.duration = time.perf_counter() - self._started
            if self._token is not None:
                with contextlib.suppress(ValueError):  # ended in another context (a generator finished elsewhere)
                    _current.reset(self._token)
                self._token = None
            if exc is not None:
                self.status, self.error = status_of(exc), _error_text(exc)
            elif self.status is None:
                self.status = "success"
            self._record()
        except Exception:  # recording never breaks the caller
            log.warning("llm-metrics could not record a tracked call", exc_info=True)

    def _record(self) -> None:
        kwargs = dict(
            provider_name=self.provider,
            model=self.model,
            status=self.status,
            endpoint=self.endpoint,
            duration_seconds=self.duration,
            time_to_first_token_seconds=self._ttft,
            error_message=self.error,
            timestamp=datetime.fromtimestamp(self._started_wall, UTC),
            **self._usage,
        )
        try:
            record_request(tags=self.tags or None, **kwargs)
        except ValueError as exc:  # e.g. tags the block filled with non-strings: keep the call, not them
            log.warning("llm-metrics recorded a tracked call without its tags: %s", exc)
            record_request(**kwargs)

    # -- decorator -------------------------------------------------------------------------------
    def _fresh(self) -> Call:
        return Call(self.provider, self.model, endpoint=self.endpoint, tags=self.tags)

    def __call__(self, func):
        if inspect.isasyncgenfunction(func):

            @functools.wraps(func)
            async def agen_wrapper(*args, **kwargs):
                async with self._fresh():
                    async for item in func(*args, **kwargs):
                        yield item

            return agen_wrapper
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args, **kwargs):
                async with self._fresh():
                    return await func(*args, **kwargs)

            return async_wrapper
        if inspect.isgeneratorfunction(func):

            @functools.wraps(func)
            def gen_wrapper(*args, **kwargs):
                with self._fresh():
                    return (yield from func(*args, **kwargs))

            return gen_wrapper

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with self._fresh():
                return func(*args, **kwargs)

        return wrapper


def track(provider: str, model: str, *, endpoint: str | None = None, tags: dict[str, str] | None = None) -> Call:
    """Record a block (``with``/``async with``) or each call of a function (decorator) as one LLM call.

    Args:
        provider: provider name, as for ``record_request`` (``claude``, ``openai``, ``ollama``...).
        model: the model requested (``call.set_model()`` changes it).
        endpoint: the API path, e.g. ``/v1/messages``.
        tags: labels such as ``{"project": "search"}`` (``call.tags`` may add more).

    Returns:
        A ``Call``: use it in ``with``/``async with`` or as a decorator.
    """
    return Call(provider, model, endpoint=endpoint, tags=tags)
