"""LiteLLM: MetricsCallback records calls made offline (mock_response) and against a local mock server."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from integration_support import capture, payload

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network fetch of LiteLLM's price list
litellm = pytest.importorskip("litellm")

from metrics_core.integrations.litellm import MetricsCallback  # noqa: E402

pytestmark = pytest.mark.sqlite_only
HI = [{"role": "user", "content": "Hi"}]


@pytest.fixture
def records(monkeypatch):
    found = capture(monkeypatch)
    monkeypatch.setattr(litellm, "callbacks", [MetricsCallback(tags={"via": "litellm"})])
    return found


def wait_for(records, n):
    """LiteLLM runs sync success hooks on a worker thread: wait for them (bounded)."""
    deadline = time.monotonic() + 10
    while len(records) < n and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.1)  # a second (duplicate) record would have arrived by now
    return records


def test_mock_response_anthropic(records):
    litellm.completion(model="anthropic/claude-sonnet-4-6", messages=HI, mock_response="Hello")
    [rec] = wait_for(records, 1)
    assert (rec["provider_name"], rec["model"], rec["status"]) == ("claude", "claude-sonnet-4-6", "success")
    # LiteLLM's mock usage: 10 prompt and 20 completion tokens
    assert (rec["prompt_tokens"], rec["completion_tokens"], rec["cache_read_tokens"]) == (10, 20, 0)
    assert rec["tags"] == {"via": "litellm"} and rec["time_to_first_token_seconds"] is None
    assert rec["timestamp"].tzinfo is not None and rec["duration_seconds"] >= 0


def test_mock_stream_async(records):
    async def run():
        stream = await litellm.acompletion(
            model="ollama/llama3.2", messages=HI, mock_response="Hello there friend", stream=True
        )
        async for _chunk in stream:
            pass
        await asyncio.sleep(0.2)

    asyncio.run(run())
    [rec] = wait_for(records, 1)
    assert (rec["provider_name"], rec["model"], rec["status"]) == ("ollama", "llama3.2", "success")
    assert rec["time_to_first_token_seconds"] is not None
    assert 0 <= rec["time_to_first_token_seconds"] <= rec["duration_seconds"]


def test_rate_limit_and_timeout_failures(records):
    limit = litellm.RateLimitError("slow down", llm_provider="openai", model="gpt-4o")
    with pytest.raises(litellm.RateLimitError):
        litellm.completion(model="openai/gpt-4o", messages=HI, mock_response=limit)
    with pytest.raises(litellm.Timeout):
        litellm.completion(model="openai/gpt-4o", messages=HI, mock_timeout=True, timeout=0.01)
    limited, timed_out = sorted(wait_for(records, 2), key=lambda r: r["status"])
    assert (limited["status"], limited["error_message"]) == ("rate_limited", "RateLimitError: slow down")
    assert (timed_out["status"], timed_out["error_message"]) == ("timeout", "Timeout: This is a mock timeout error")
    assert limited["provider_name"] == "openai" and limited["prompt_tokens"] == 0


class MockOpenAI(BaseHTTPRequestHandler):
    """An OpenAI-compatible server on 127.0.0.1 serving the recorded payloads."""

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if body.get("stream"):
            data, media = payload("openai_chat_stream.sse"), "text/event-stream"
        else:
            data, media = payload("openai_chat_completion.json"), "application/json"
        self.send_response(200)
        self.send_header("Content-Type", media)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def base_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), MockOpenAI)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()
    server.server_close()


def test_local_openai_compatible_server(records, base_url):
    litellm.completion(model="openai/o4-mini", messages=HI, api_base=base_url, api_key="sk-test")
    [rec] = wait_for(records, 1)
    assert (rec["provider_name"], rec["model"], rec["status"]) == ("openai", "o4-mini-2025-04-16", "success")
    # cached and reasoning tokens come from LiteLLM's usage details
    fields = ("prompt_tokens", "completion_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens")
    assert tuple(rec[f] for f in fields) == (1117, 346, 1024, 0, 320)


def test_local_server_stream(records, base_url):
    stream = litellm.completion(
        model="openai/gpt-4o-mini",
        messages=HI,
        api_base=base_url,
        api_key="sk-test",
        stream=True,
        stream_options={"include_usage": True},
    )
    for _chunk in stream:
        pass
    [rec] = wait_for(records, 1)
    assert (rec["model"], rec["status"]) == ("gpt-4o-mini", "success")  # LiteLLM reports the requested model
    assert (rec["prompt_tokens"], rec["completion_tokens"], rec["cache_read_tokens"]) == (1320, 10, 1152)
    assert rec["time_to_first_token_seconds"] is not None


def test_call_recorded_once_when_both_hooks_fire(records):
    callback = litellm.callbacks[0]
    kwargs = {"litellm_call_id": "c-1", "custom_llm_provider": "openai", "model": "gpt-4o"}
    callback.log_success_event(kwargs, None, None, None)
    asyncio.run(callback.async_log_success_event(kwargs, None, None, None))
    [rec] = records
    # no usage: unknown, so unpriced (None), not a $0 call
    assert (rec["status"], rec["prompt_tokens"], rec["completion_tokens"]) == ("success", None, None)


def test_unknown_usage_is_flagged():
    from metrics_core.integrations.litellm import call_to_record

    mapped = call_to_record({"custom_llm_provider": "anthropic", "model": "claude-sonnet-4-6"}, None, None, None)
    assert (mapped.usage_known, mapped.source, mapped.record["provider_name"]) == (False, "litellm", "claude")


def test_litellm_otel_callback_spans(monkeypatch):
    """LiteLLM's own ``otel`` callback: its spans through MetricsSpanProcessor, and the shared response id."""
    from litellm.integrations.opentelemetry import OpenTelemetry
    from opentelemetry.sdk.trace import TracerProvider

    from metrics_core.integrations.otel import MetricsSpanProcessor, span_to_record

    found = capture(monkeypatch)
    spans = []
    provider = TracerProvider()
    provider.add_span_processor(MetricsSpanProcessor())
    processor = MetricsSpanProcessor()
    processor.on_end = lambda span: spans.append(span)  # keep the spans to compare ids
    provider.add_span_processor(processor)
    callback = MetricsCallback()
    monkeypatch.setattr(litellm, "callbacks", [OpenTelemetry(tracer_provider=provider), callback])

    async def run():
        response = await litellm.acompletion(model="anthropic/claude-sonnet-4-6", messages=HI, mock_response="Hi")
        limit = litellm.RateLimitError("slow", llm_provider="openai", model="gpt-4o")
        with pytest.raises(litellm.RateLimitError):
            await litellm.acompletion(model="openai/gpt-4o", messages=HI, mock_response=limit)
        await asyncio.sleep(0.5)
        return response

    response = asyncio.run(run())
    wait_for(found, 4)
    ok = [r for r in found if r["status"] == "success"]
    limited = [r for r in found if r["status"] == "rate_limited"]
    # one call, two paths (LiteLLM otel span + MetricsCallback): the double count the integrator dedupes
    assert len(ok) == 2 and len(limited) == 2
    assert {(r["provider_name"], r["model"], r["prompt_tokens"], r["completion_tokens"]) for r in ok} == {
        ("claude", "claude-sonnet-4-6", 10, 20)
    }
    assert {r["error_message"] for r in limited} == {"RateLimitError: slow"}
    mapped = [m for m in map(span_to_record, spans) if m is not None]
    [ok_span] = [m for m in mapped if m.record["status"] == "success"]
    [limited_span] = [m for m in mapped if m.record["status"] == "rate_limited"]
    assert ok_span.source == "litellm" and ok_span.response_id == response.id
    assert limited_span.response_id is None  # LiteLLM's call id, not a provider response id


def test_callback_and_otel_callback_are_one_call(tmp_path, monkeypatch):
    """MetricsCallback and LiteLLM's own ``otel`` spans through MetricsSpanProcessor: one stored call."""
    from integration_support import fresh_core_db, stored_requests
    from litellm.integrations.opentelemetry import OpenTelemetry
    from opentelemetry.sdk.trace import TracerProvider

    from metrics_core import recording
    from metrics_core.integrations.otel import MetricsSpanProcessor

    provider = TracerProvider()
    provider.add_span_processor(MetricsSpanProcessor())
    with fresh_core_db(tmp_path, monkeypatch) as engine:
        monkeypatch.setattr(litellm, "callbacks", [OpenTelemetry(tracer_provider=provider), MetricsCallback()])

        async def run():
            await litellm.acompletion(model="anthropic/claude-sonnet-4-6", messages=HI, mock_response="Hi")
            deadline = time.monotonic() + 10
            while recording.stats()["duplicates"] < 1 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)

        asyncio.run(run())
        [row] = stored_requests(engine)
        assert (row["provider"], row["model"], row["prompt_tokens"], row["completion_tokens"]) == (
            "claude",
            "claude-sonnet-4-6",
            10,
            20,
        )
        assert recording.stats()["duplicates"] == 1
