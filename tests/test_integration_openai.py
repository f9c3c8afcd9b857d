"""OpenAI integration: recorded payloads served through MockTransport, records captured."""

from __future__ import annotations

import asyncio
import gc
import json

import httpx
import httpx2
import openai
import pytest
from integration_support import (
    Server,
    assert_timing,
    assert_tokens,
    capture,
    fixed,
    fresh_core_db,
    payload,
    stored_requests,
    timeout,
)

from metrics_core.integrations import openai as m_openai

MESSAGES = [{"role": "user", "content": "Hi"}]
CHAT_USAGE = {"prompt_tokens": 1117, "completion_tokens": 346, "cache_read_tokens": 1024, "reasoning_tokens": 320}
STREAM_USAGE = {"prompt_tokens": 1320, "completion_tokens": 10, "cache_read_tokens": 1152}


@pytest.fixture
def records(monkeypatch):
    return capture(monkeypatch)


@pytest.fixture
def engine(tmp_path, monkeypatch):
    """A fresh SQLite database that the real core records into."""
    with fresh_core_db(tmp_path, monkeypatch) as engine:
        yield engine


def chat_stream(request):
    """Serve the recorded stream; like the API, its usage chunk only when include_usage is set."""
    text = payload("openai_chat_stream.sse").decode()
    if not (json.loads(request.content).get("stream_options") or {}).get("include_usage"):
        events = []
        for block in text.strip().split("\n\n"):
            data = block.removeprefix("data: ")
            if data != "[DONE]":
                chunk = json.loads(data)
                if not chunk["choices"]:
                    continue
                chunk.pop("usage")
                data = json.dumps(chunk)
            events.append(f"data: {data}\n\n")
        text = "".join(events)
    return 200, text.encode(), "text/event-stream"


def make(respond, *, is_async=False, legacy=False, base_url="https://api.openai.com/v1"):
    """A real OpenAI client whose HTTP goes to a fake server; returns (client, server)."""
    server = Server(respond)
    mod = httpx if legacy else httpx2
    http = (mod.AsyncClient if is_async else mod.Client)(transport=mod.MockTransport(server.handler(mod.Response, mod)))
    cls = openai.AsyncOpenAI if is_async else openai.OpenAI
    return cls(api_key="sk-test", base_url=base_url, http_client=http, max_retries=0), server


def test_chat_non_streamed(records):
    client, _ = make(fixed(200, "openai_chat_completion.json"))
    assert m_openai.instrument(client, tags={"app": "demo"}) is client
    result = client.chat.completions.create(model="o4-mini", messages=MESSAGES)
    assert isinstance(result, openai.types.chat.ChatCompletion)
    assert result.choices[0].message.content == "The capital of France is Paris."
    [rec] = records
    assert rec["provider_name"] == "openai" and rec["model"] == "o4-mini-2025-04-16"
    assert rec["status"] == "success" and rec["error_message"] is None
    assert rec["endpoint"] == "/v1/chat/completions" and rec["tags"] == {"app": "demo"}
    assert_tokens(rec, **CHAT_USAGE)
    assert_timing(rec, streamed=False)


def test_chat_streamed_app_sees_the_same_chunks(records):
    plain, _ = make(chat_stream)
    expected = [
        c.model_dump() for c in plain.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    ]
    client, server = make(chat_stream)
    m_openai.instrument(client)
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    assert isinstance(stream, openai.Stream)
    assert [c.model_dump() for c in stream] == expected
    assert all(c["choices"] for c in expected)
    assert server.bodies[0]["stream_options"] == {"include_usage": True}  # asked for, then hidden
    [rec] = records
    assert rec["status"] == "success" and rec["model"] == "gpt-4o-mini-2024-07-18"
    assert_tokens(rec, **STREAM_USAGE)
    assert_timing(rec, streamed=True)


def test_chat_stream_keeps_usage_chunk_the_app_asked_for(records):
    client, _ = make(chat_stream)
    m_openai.instrument(client)
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[-1].choices == [] and chunks[-1].usage.prompt_tokens == 1320
    assert_tokens(records[0], **STREAM_USAGE)


def test_chat_stream_without_usage_injection(records):
    client, server = make(chat_stream)
    m_openai.instrument(client, include_stream_usage=False)
    assert len(list(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))) == 11
    assert "stream_options" not in server.bodies[0]
    [rec] = records
    assert rec["status"] == "success" and rec["time_to_first_token_seconds"] > 0
    assert_tokens(rec)


def test_http_500_is_failed(records):
    client, _ = make(fixed(500, "openai_error_500.json"))
    m_openai.instrument(client)
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    [rec] = records
    assert rec["status"] == "failed" and rec["model"] == "gpt-4o-mini"
    assert rec["error_message"].startswith("InternalServerError: Error code: 500")
    assert_tokens(rec)


def test_429_is_rate_limited(records):
    client, _ = make(fixed(429, "openai_error_429.json"))
    m_openai.instrument(client)
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    [rec] = records
    assert rec["status"] == "rate_limited"
    assert rec["error_message"].startswith("RateLimitError: Error code: 429 - Rate limit reached")


def test_timeout_is_timeout(records):
    client, _ = make(timeout)
    m_openai.instrument(client)
    with pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    [rec] = records
    assert rec["status"] == "timeout" and rec["error_message"] == "APITimeoutError: Request timed out."


@pytest.mark.parametrize("how", ["close", "with", "garbage", "app_error"])
def test_stream_stopped_early_is_cancelled_once(records, how):
    client, _ = make(chat_stream)
    m_openai.instrument(client)

    def consume(stream):
        for chunk in stream:
            if chunk.choices[0].delta.content == "Hello":
                if how == "app_error":
                    raise KeyError("app bug")
                break

    stream = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    if how == "with":
        with stream:
            consume(stream)
    elif how == "app_error":
        with pytest.raises(KeyError):
            consume(stream)
        del stream
    else:
        consume(stream)
        if how == "close":
            stream.close()
            stream.close()
        else:
            del stream
    gc.collect()
    [rec] = records
    assert rec["status"] == "cancelled" and rec["error_message"] is None
    assert rec["model"] == "gpt-4o-mini-2024-07-18"
    assert_tokens(rec)  # OpenAI sends usage only in the last chunk
    assert_timing(rec, streamed=True)


def test_exception_is_reraised_unchanged(records):
    client, _ = make(fixed(200, "openai_chat_completion.json"))
    boom = openai.APIConnectionError(request=httpx2.Request("POST", "https://api.openai.com/v1/chat/completions"))

    def broken(**kwargs):
        raise boom

    client.chat.completions.create = broken
    m_openai.instrument(client)
    with pytest.raises(openai.APIConnectionError) as info:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert info.value is boom
    assert records[0]["status"] == "failed" and records[0]["error_message"] == "APIConnectionError: Connection error."


def test_instrument_twice_records_once_with_latest_settings(records):
    client, _ = make(fixed(200, "openai_chat_completion.json"), base_url="http://localhost:8080/v1")
    m_openai.instrument(client)
    assert m_openai.instrument(client, provider="localai") is client
    client.chat.completions.create(model="o4-mini", messages=MESSAGES)
    [rec] = records
    assert rec["provider_name"] == "localai" and rec["endpoint"] == "/v1/chat/completions"


def test_plain_httpx_client(records):
    client, _ = make(chat_stream, legacy=True)
    m_openai.instrument(client)
    assert len(list(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))) == 11
    assert_tokens(records[0], **STREAM_USAGE)


def test_chat_stream_helper(records):
    client, _ = make(chat_stream)
    m_openai.instrument(client)
    with client.chat.completions.stream(model="gpt-4o-mini", messages=MESSAGES) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content == "Hello! How can I help you today?"
    [rec] = records
    assert rec["status"] == "success"
    assert_tokens(rec, **STREAM_USAGE)


def test_responses_non_streamed(records):
    client, _ = make(fixed(200, "openai_response.json"))
    m_openai.instrument(client)
    response = client.responses.create(model="gpt-4.1-mini", input="Capital of France?")
    assert response.output_text == "Paris is the capital of France."
    [rec] = records
    assert rec["model"] == "gpt-4.1-mini-2025-04-14" and rec["endpoint"] == "/v1/responses"
    assert_tokens(rec, prompt_tokens=2150, completion_tokens=9, cache_read_tokens=1920)
    assert_timing(rec, streamed=False)


def test_responses_streamed(records):
    client, _ = make(fixed(200, "openai_response_stream.sse", "text/event-stream"))
    m_openai.instrument(client)
    events = list(client.responses.create(model="gpt-4.1-mini", input="Capital of France?", stream=True))
    assert events[-1].type == "response.completed" and len(events) == 15
    [rec] = records
    assert rec["status"] == "success" and rec["model"] == "gpt-4.1-mini-2025-04-14"
    assert_tokens(rec, prompt_tokens=2150, completion_tokens=9, cache_read_tokens=1920)
    assert_timing(rec, streamed=True)


def test_async_non_streamed_and_streamed(records):
    async def main():
        client, _ = make(fixed(200, "openai_chat_completion.json"), is_async=True)
        assert m_openai.instrument(client) is client
        await client.chat.completions.create(model="o4-mini", messages=MESSAGES)
        client, _ = make(chat_stream, is_async=True)
        m_openai.instrument(client)
        stream = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
        assert isinstance(stream, openai.AsyncStream)
        return [c async for c in stream]

    chunks = asyncio.run(main())
    assert len(chunks) == 11 and all(c.choices for c in chunks)
    plain, streamed = records
    assert_tokens(plain, **CHAT_USAGE)
    assert_timing(plain, streamed=False)
    assert streamed["status"] == "success"
    assert_tokens(streamed, **STREAM_USAGE)
    assert_timing(streamed, streamed=True)


def test_async_errors_and_early_stop(records):
    async def main():
        client, _ = make(fixed(429, "openai_error_429.json"), is_async=True)
        m_openai.instrument(client)
        with pytest.raises(openai.RateLimitError):
            await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        client, _ = make(timeout, is_async=True)
        m_openai.instrument(client)
        with pytest.raises(openai.APITimeoutError):
            await client.responses.create(model="gpt-4.1-mini", input="x")
        client, _ = make(chat_stream, is_async=True)
        m_openai.instrument(client)
        async with await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True) as s:
            async for _chunk in s:
                break

    asyncio.run(main())
    assert [r["status"] for r in records] == ["rate_limited", "timeout", "cancelled"]
    assert records[1]["endpoint"] == "/v1/responses"


def test_stream_timing_out_midway_is_timeout(records):
    text = payload("openai_chat_stream.sse")
    cut = text.index(b"data: ", text.index(b'" can"'))

    def body():
        yield text[:cut]
        raise httpx2.ReadTimeout("timed out")

    client, _ = make(lambda request: (200, body(), "text/event-stream"))
    m_openai.instrument(client)
    seen = []
    with pytest.raises(openai.APITimeoutError):
        for chunk in client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True):
            seen.append(chunk.choices[0].delta.content)
    assert seen == ["", "Hello", "!", " How", " can"]
    [rec] = records
    assert rec["status"] == "timeout" and rec["time_to_first_token_seconds"] > 0
    assert_tokens(rec)


def test_importing_metrics_core_imports_no_sdk():
    import subprocess
    import sys

    code = (
        "import sys, metrics_core, metrics_core.integrations, metrics_core.integrations.openai,"
        " metrics_core.integrations.anthropic, metrics_core.integrations.ollama;"
        " print(sorted(m for m in ('openai', 'anthropic', 'ollama', 'opentelemetry')"
        " if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=__import__("pathlib").Path(__file__).parent.parent,
    )
    assert out.stdout.strip() == "[]"


def test_with_raw_response(records):
    client, _ = make(fixed(200, "openai_chat_completion.json"))
    _ = client.chat.completions.with_raw_response  # cached before instrumenting
    m_openai.instrument(client)
    raw = client.chat.completions.with_raw_response.create(model="o4-mini", messages=MESSAGES)
    assert raw.headers["content-type"] == "application/json"
    assert raw.parse().choices[0].message.content == "The capital of France is Paris."
    [rec] = records
    assert rec["status"] == "success"
    assert_tokens(rec, **CHAT_USAGE)


def test_async_task_cancelled_while_waiting(records):
    async def never_answers(request):
        await asyncio.sleep(30)

    async def main():
        http = httpx2.AsyncClient(transport=httpx2.MockTransport(never_answers))
        client = m_openai.instrument(openai.AsyncOpenAI(api_key="sk-test", http_client=http, max_retries=0))
        task = asyncio.create_task(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    [rec] = records
    assert rec["status"] == "cancelled" and rec["error_message"] == "CancelledError"


def test_end_to_end_into_sqlite(engine):
    client, _ = make(chat_stream)
    m_openai.instrument(client, tags={"app": "e2e"})
    assert len(list(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))) == 11
    client, _ = make(fixed(429, "openai_error_429.json"))
    m_openai.instrument(client, tags={"app": "e2e"})
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    streamed, limited = stored_requests(engine)
    assert (streamed["provider"], streamed["model"], streamed["status"]) == (
        "openai",
        "gpt-4o-mini-2024-07-18",
        "success",
    )
    assert (streamed["prompt_tokens"], streamed["completion_tokens"], streamed["cache_read_tokens"]) == (1320, 10, 1152)
    assert streamed["endpoint"] == "/v1/chat/completions" and json.loads(streamed["tags"]) == {"app": "e2e"}
    assert 0 < streamed["ttft_ms"] <= streamed["duration_ms"]
    assert streamed["cost_usd"] > 0 and streamed["price_source"] == "genai-prices:0.2.3"
    assert (limited["model"], limited["status"], limited["prompt_tokens"]) == ("gpt-4o-mini", "rate_limited", 0)
    assert limited["error_message"].startswith("RateLimitError: Error code: 429")
