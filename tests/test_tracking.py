"""track(): times the block, records status and error, re-raises the application's exception object."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

import metrics_core
from metrics_core import queries, recording, track


def rows() -> list[dict]:
    frame = queries.request_log(limit=100)  # flushes first
    return frame.sort_values("timestamp").to_dict("records")


def test_context_manager_records_success_with_usage_and_ttft():
    with track("claude", "claude-sonnet-4-5", endpoint="/v1/messages", tags={"project": "search"}) as call:
        time.sleep(0.02)
        call.first_token()
        time.sleep(0.02)
        call.first_token()  # only the first counts
        call.set_usage(prompt_tokens=1200, completion_tokens=300, cache_read_tokens=1000, reasoning_tokens=100)
        call.set_model("claude-sonnet-4-5-20250929")
        call.tags["user"] = "ana"
    [row] = rows()
    assert row["status"] == "success"
    assert row["model"] == "claude-sonnet-4-5-20250929"
    assert row["endpoint"] == "/v1/messages"
    assert (row["prompt_tokens"], row["completion_tokens"], row["cache_read_tokens"], row["reasoning_tokens"]) == (
        1200,
        300,
        1000,
        100,
    )
    assert 40 <= row["duration_ms"] < 2000
    assert 20 <= row["ttft_ms"] < row["duration_ms"]
    assert row["tags"] == {"project": "search", "user": "ana"}
    assert row["cost_usd"] > 0
    assert call.status == "success" and call.duration >= 0.04


class ReadTimeout(Exception):  # named like httpx's
    pass


class RateLimitError(Exception):  # named like openai's and anthropic's
    pass


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (RuntimeError("boom"), "failed"),
        (TimeoutError("slow"), "timeout"),
        (TimeoutError(), "timeout"),
        (ReadTimeout("read timed out"), "timeout"),
        (RateLimitError("429 Too Many Requests"), "rate_limited"),
        (KeyboardInterrupt(), "cancelled"),
        (asyncio.CancelledError(), "cancelled"),
    ],
    ids=lambda v: v if isinstance(v, str) else type(v).__name__,
)
def test_exception_is_reraised_unchanged_and_recorded(exc, status):
    with pytest.raises(BaseException) as info, track("openai", "gpt-4o-mini") as call:
        call.set_usage(prompt_tokens=10)
        raise exc
    assert info.value is exc
    assert info.value.__traceback__ is not None
    [row] = rows()
    assert row["status"] == status
    message = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    assert row["error_message"] == message
    assert row["prompt_tokens"] == 10
    assert row["duration_ms"] >= 0


def test_error_message_is_redacted():
    with pytest.raises(ValueError), track("openai", "gpt-4o"):
        raise ValueError("bad key sk-proj-abcdefghijklmnopqrstuvwx")
    [row] = rows()
    assert row["error_message"] == "ValueError: bad key [REDACTED]"


def test_set_status_without_exception():
    with track("openai", "gpt-4o") as call:
        call.set_status("rate_limited", "429 from upstream, retried elsewhere")
    [row] = rows()
    assert (row["status"], row["error_message"]) == ("rate_limited", "429 from upstream, retried elsewhere")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"prompt_tokens": -1},
        {"completion_tokens": 1.5},
        {"prompt_tokens": True},
        {"prompt_tokens": 10, "cache_read_tokens": 8, "cache_write_tokens": 3},
        {"completion_tokens": 5, "reasoning_tokens": 6},
    ],
    ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()),
)
def test_set_usage_rejects_invalid_counts_at_once(kwargs):
    with track("claude", "claude-sonnet-4-5") as call:
        with pytest.raises(ValueError):
            call.set_usage(**kwargs)
        assert call.usage == dict.fromkeys(call.usage, 0)  # nothing of the bad call was kept
    assert rows()[0]["status"] == "success"


def test_invalid_arguments_raise_where_given():
    with pytest.raises(ValueError, match="provider"):
        track("", "m")
    with track("claude", "m") as call, pytest.raises(ValueError, match="model"):
        call.set_model("")
    with track("claude", "m") as call, pytest.raises(ValueError, match="status"):
        call.set_status("exploded")


def test_recording_problems_never_raise(monkeypatch):
    """Bad tags put in by the block: the call is kept without them; a recorder failure is logged."""
    with track("claude", "claude-sonnet-4-5") as call:
        call.tags["n"] = 3
    [row] = rows()
    assert row["tags"] == {} and row["status"] == "success"

    def broken(**_kwargs):
        raise RuntimeError("recorder is broken")

    monkeypatch.setattr("metrics_core.recording.tracking.record_request", broken)
    with track("claude", "claude-sonnet-4-5"):
        pass
    with pytest.raises(KeyError), track("claude", "claude-sonnet-4-5"):
        raise KeyError("the application's own error still comes out")


def test_decorator_sync_async_and_generators():
    @track("ollama", "llama3", tags={"f": "sync"})
    def sync(x):
        metrics_core.current_call().set_usage(prompt_tokens=x, completion_tokens=1)
        return x * 2

    @track("ollama", "llama3", tags={"f": "async"})
    async def coro(x):
        await asyncio.sleep(0.01)
        metrics_core.current_call().set_usage(prompt_tokens=abs(x))
        if x < 0:
            raise ValueError("negative")
        return x + 1

    @track("ollama", "llama3", tags={"f": "gen"})
    def stream(n):
        call = metrics_core.current_call()
        for i in range(n):
            call.first_token()
            yield i
        call.set_usage(completion_tokens=n)

    @track("ollama", "llama3", tags={"f": "agen"})
    async def astream(n):
        for i in range(n):
            await asyncio.sleep(0)
            yield i

    assert sync(3) == 6 and sync(4) == 8
    assert asyncio.run(coro(1)) == 2
    with pytest.raises(ValueError, match="negative"):
        asyncio.run(coro(-1))
    assert list(stream(3)) == [0, 1, 2]
    partial = stream(10)
    next(partial)
    partial.close()  # a stream abandoned early is still recorded

    async def consume():
        return [i async for i in astream(2)]

    assert asyncio.run(consume()) == [0, 1]
    assert metrics_core.current_call() is None
    by_f = {}
    for row in rows():
        by_f.setdefault(row["tags"]["f"], []).append(row)
    assert [r["prompt_tokens"] for r in by_f["sync"]] == [3, 4]
    assert sorted(r["status"] for r in by_f["async"]) == ["failed", "success"]
    assert sorted(r["status"] for r in by_f["gen"]) == ["cancelled", "success"]
    assert [r["status"] for r in by_f["agen"]] == ["success"]
    assert all(r["ttft_ms"] is not None for r in by_f["gen"])


def test_cancelled_task_is_recorded_as_cancelled():
    async def main():
        async def call_llm():
            async with track("claude", "claude-haiku-4-5"):
                await asyncio.sleep(10)

        task = asyncio.create_task(call_llm())
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    [row] = rows()
    assert row["status"] == "cancelled"


def test_nested_calls_and_current_call():
    with track("claude", "outer") as outer:
        assert metrics_core.current_call() is outer
        with track("claude", "inner") as inner:
            assert metrics_core.current_call() is inner
        assert metrics_core.current_call() is outer
    assert metrics_core.current_call() is None
    assert sorted(r["model"] for r in rows()) == ["inner", "outer"]


def test_tracked_calls_reach_the_writer_buffered():
    recording.reset()
    with track("claude", "claude-sonnet-4-5"):
        pass
    assert recording.stats()["queued"] in (0, 1)
    assert metrics_core.flush(10)
    assert json.loads(json.dumps(rows()[0]["tags"])) == {}
