"""Anthropic integration: recorded payloads served through httpx2.MockTransport, records captured."""

from __future__ import annotations

import asyncio
import gc

import anthropic
import httpx2
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

from metrics_core.integrations import anthropic as m_anthropic

MESSAGES = [{"role": "user", "content": "Hi"}]
# input 21 + cache writes 1800 + cache reads 3200
MESSAGE_USAGE = {"prompt_tokens": 5021, "completion_tokens": 12, "cache_write_tokens": 1800, "cache_read_tokens": 3200}
# input 25 + cache writes 512 + cache reads 2048; 15 output tokens by message_delta, 1 at message_start
STREAM_USAGE = {"prompt_tokens": 2585, "completion_tokens": 15, "cache_write_tokens": 512, "cache_read_tokens": 2048}
STREAM = fixed(200, "anthropic_message_stream.sse", "text/event-stream")


@pytest.fixture
def records(monkeypatch):
    return capture(monkeypatch)


@pytest.fixture
def engine(tmp_path, monkeypatch):
    """A fresh SQLite database that the real core records into."""
    with fresh_core_db(tmp_path, monkeypatch) as engine:
        yield engine


def make(respond, *, is_async=False):
    """A real Anthropic client whose HTTP goes to a fake server; returns (client, server)."""
    server = Server(respond)
    transport = httpx2.MockTransport(server.handler(httpx2.Response, httpx2))
    http = (httpx2.AsyncClient if is_async else httpx2.Client)(transport=transport)
    cls = anthropic.AsyncAnthropic if is_async else anthropic.Anthropic
    return cls(api_key="sk-ant-test", base_url="https://api.anthropic.com", http_client=http, max_retries=0), server


def create(client, **kwargs):
    return client.messages.create(model="claude-sonnet-4-6", max_tokens=1024, messages=MESSAGES, **kwargs)


def test_message_non_streamed(records):
    client, _ = make(fixed(200, "anthropic_message.json"))
    assert m_anthropic.instrument(client, tags={"team": "search"}) is client
    message = create(client)
    assert isinstance(message, anthropic.types.Message) and message.content[0].text == "Paris is the capital of France."
    [rec] = records
    assert rec["provider_name"] == "claude" and rec["model"] == "claude-sonnet-4-6"
    assert rec["status"] == "success" and rec["endpoint"] == "/v1/messages" and rec["tags"] == {"team": "search"}
    assert_tokens(rec, **MESSAGE_USAGE)
    assert_timing(rec, streamed=False)


def test_create_streamed_app_sees_the_same_events(records):
    plain, _ = make(STREAM)
    expected = [e.model_dump() for e in create(plain, stream=True)]
    client, _ = make(STREAM)
    m_anthropic.instrument(client)
    stream = create(client, stream=True)
    assert isinstance(stream, anthropic.Stream)
    assert [e.model_dump() for e in stream] == expected
    [rec] = records
    assert rec["status"] == "success" and rec["model"] == "claude-sonnet-4-6"
    assert_tokens(rec, **STREAM_USAGE)
    assert_timing(rec, streamed=True)


def test_messages_stream_helper(records):
    client, _ = make(STREAM)
    m_anthropic.instrument(client)
    with client.messages.stream(model="claude-sonnet-4-6", max_tokens=1024, messages=MESSAGES) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Hello! How can I help you today?" and final.usage.output_tokens == 15
    [rec] = records
    assert rec["status"] == "success" and rec["endpoint"] == "/v1/messages"
    assert_tokens(rec, **STREAM_USAGE)
    assert_timing(rec, streamed=True)


def test_http_500_is_failed(records):
    client, _ = make(fixed(500, "anthropic_error_500.json"))
    m_anthropic.instrument(client)
    with pytest.raises(anthropic.InternalServerError):
        create(client)
    [rec] = records
    assert rec["status"] == "failed" and rec["model"] == "claude-sonnet-4-6"
    assert rec["error_message"].startswith("InternalServerError: Error code: 500")
    assert_tokens(rec)


def test_429_is_rate_limited(records):
    client, _ = make(fixed(429, "anthropic_error_429.json"))
    m_anthropic.instrument(client)
    with (
        pytest.raises(anthropic.RateLimitError),
        client.messages.stream(model="claude-sonnet-4-6", max_tokens=1024, messages=MESSAGES),
    ):
        pass
    [rec] = records
    assert rec["status"] == "rate_limited" and "rate_limit_error" in rec["error_message"]


def test_timeout_is_timeout(records):
    client, _ = make(timeout)
    m_anthropic.instrument(client)
    with pytest.raises(anthropic.APITimeoutError):
        create(client)
    [rec] = records
    assert rec["status"] == "timeout" and rec["error_message"].startswith(
        "APITimeoutError: Request timed out or interrupted."
    )


@pytest.mark.parametrize("how", ["create_close", "create_garbage", "helper_with", "helper_break_then_garbage"])
def test_stream_stopped_early_is_cancelled_with_partial_tokens(records, how):
    client, _ = make(STREAM)
    m_anthropic.instrument(client)
    if how.startswith("create"):
        stream = create(client, stream=True)
        for event in stream:
            if event.type == "content_block_delta":
                break
        if how == "create_close":
            stream.close()
        del stream
    else:
        with client.messages.stream(model="claude-sonnet-4-6", max_tokens=1024, messages=MESSAGES) as stream:
            next(iter(stream.text_stream))
            if how == "helper_with":
                assert len(records) == 0
        if how == "helper_break_then_garbage":
            del stream
    gc.collect()
    [rec] = records
    assert rec["status"] == "cancelled"
    # what message_start said: all input tokens and the first output token
    assert_tokens(rec, prompt_tokens=2585, completion_tokens=1, cache_write_tokens=512, cache_read_tokens=2048)
    assert_timing(rec, streamed=True)


def test_stream_stopped_after_message_stop_is_success(records):
    client, _ = make(STREAM)
    m_anthropic.instrument(client)
    with create(client, stream=True) as stream:
        for event in stream:
            if event.type == "message_stop":
                break
    assert records[0]["status"] == "success"
    assert_tokens(records[0], **STREAM_USAGE)


def test_exception_is_reraised_unchanged(records):
    client, _ = make(fixed(200, "anthropic_message.json"))
    boom = anthropic.APIConnectionError(request=httpx2.Request("POST", "https://api.anthropic.com/v1/messages"))

    def broken(**kwargs):
        raise boom

    client.messages.create = broken
    m_anthropic.instrument(client)
    with pytest.raises(anthropic.APIConnectionError) as info:
        create(client)
    assert info.value is boom
    assert records[0]["status"] == "failed"


def test_instrument_twice_records_once(records):
    client, _ = make(STREAM)
    m_anthropic.instrument(client)
    m_anthropic.instrument(client)
    with client.messages.stream(model="claude-sonnet-4-6", max_tokens=1024, messages=MESSAGES) as stream:
        stream.until_done()
    create(client, stream=True).close()
    assert [r["status"] for r in records] == ["success", "cancelled"]


def test_async_variants(records):
    async def main():
        client, _ = make(fixed(200, "anthropic_message.json"), is_async=True)
        assert m_anthropic.instrument(client) is client
        await create(client)
        client, _ = make(STREAM, is_async=True)
        m_anthropic.instrument(client)
        events = [e async for e in await create(client, stream=True)]
        async with client.messages.stream(model="claude-sonnet-4-6", max_tokens=1024, messages=MESSAGES) as stream:
            text = "".join([t async for t in stream.text_stream])
        async with client.messages.stream(model="claude-sonnet-4-6", max_tokens=1024, messages=MESSAGES) as stream:
            async for _event in stream:
                break
        client, _ = make(fixed(429, "anthropic_error_429.json"), is_async=True)
        m_anthropic.instrument(client)
        with pytest.raises(anthropic.RateLimitError):
            await create(client)
        return events, text

    events, text = asyncio.run(main())
    assert len(events) == 10 and text == "Hello! How can I help you today?"
    plain, streamed, helper, stopped, limited = records
    assert_tokens(plain, **MESSAGE_USAGE)
    assert_timing(plain, streamed=False)
    for rec in (streamed, helper):
        assert rec["status"] == "success"
        assert_tokens(rec, **STREAM_USAGE)
        assert_timing(rec, streamed=True)
    assert stopped["status"] == "cancelled" and stopped["time_to_first_token_seconds"] is None
    assert limited["status"] == "rate_limited"


def test_error_event_midway_is_failed_with_partial_tokens(records):
    events = payload("anthropic_message_stream.sse").decode().split("\n\n")
    overloaded = 'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'
    body = "\n\n".join([*events[:5], overloaded, ""]).encode()
    client, _ = make(lambda request: (200, body, "text/event-stream"))
    m_anthropic.instrument(client)
    with pytest.raises(anthropic.APIStatusError) as info:
        for _event in create(client, stream=True):
            pass
    [rec] = records
    assert rec["status"] == "failed" and rec["error_message"] == f"{type(info.value).__name__}: {info.value}"
    assert "overloaded_error" in rec["error_message"] and rec["time_to_first_token_seconds"] > 0
    assert_tokens(rec, prompt_tokens=2585, completion_tokens=1, cache_write_tokens=512, cache_read_tokens=2048)


def test_end_to_end_into_sqlite(engine):
    client, _ = make(STREAM)
    m_anthropic.instrument(client)
    with client.messages.stream(model="claude-sonnet-4-6", max_tokens=1024, messages=MESSAGES) as stream:
        stream.until_done()
    client, _ = make(fixed(500, "anthropic_error_500.json"))
    m_anthropic.instrument(client)
    with pytest.raises(anthropic.InternalServerError):
        create(client)
    streamed, failed = stored_requests(engine)
    assert (streamed["provider"], streamed["model"], streamed["status"]) == ("claude", "claude-sonnet-4-6", "success")
    assert (streamed["prompt_tokens"], streamed["completion_tokens"]) == (2585, 15)
    assert (streamed["cache_write_tokens"], streamed["cache_read_tokens"]) == (512, 2048)
    assert streamed["endpoint"] == "/v1/messages" and 0 < streamed["ttft_ms"] <= streamed["duration_ms"]
    assert failed["status"] == "failed" and failed["error_message"].startswith("InternalServerError: Error code: 500")
