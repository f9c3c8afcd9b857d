"""Ollama integration: recorded payloads served through httpx.MockTransport, records captured."""

from __future__ import annotations

import asyncio
import gc
import inspect

import httpx
import ollama
import pytest
from integration_support import (
    Server,
    assert_timing,
    assert_tokens,
    capture,
    fixed,
    fresh_core_db,
    stored_requests,
    timeout,
)

from metrics_core.integrations import ollama as m_ollama

MESSAGES = [{"role": "user", "content": "Why is the sky blue?"}]
CHAT_STREAM = fixed(200, "ollama_chat_stream.ndjson", "application/x-ndjson")
GENERATE_STREAM = fixed(200, "ollama_generate_stream.ndjson", "application/x-ndjson")


@pytest.fixture
def records(monkeypatch):
    return capture(monkeypatch)


@pytest.fixture
def engine(tmp_path, monkeypatch):
    """A fresh SQLite database that the real core records into."""
    with fresh_core_db(tmp_path, monkeypatch) as engine:
        yield engine


def make(respond, *, is_async=False):
    """A real Ollama client whose HTTP goes to a fake server; returns (client, server)."""
    server = Server(respond)
    cls = ollama.AsyncClient if is_async else ollama.Client
    return cls(
        host="http://127.0.0.1:11434", transport=httpx.MockTransport(server.handler(httpx.Response, httpx))
    ), server


def test_chat_non_streamed(records):
    client, _ = make(fixed(200, "ollama_chat.json"))
    assert m_ollama.instrument(client, tags={"host": "gpu-1"}) is client
    response = client.chat("llama3.2", messages=MESSAGES)
    assert isinstance(response, ollama.ChatResponse) and response.message.content == "Hello! How are you today?"
    [rec] = records
    assert rec["provider_name"] == "ollama" and rec["model"] == "llama3.2" and rec["status"] == "success"
    assert rec["endpoint"] == "/api/chat" and rec["tags"] == {"host": "gpu-1"}
    assert_tokens(rec, prompt_tokens=26, completion_tokens=298)
    assert_timing(rec, streamed=False)


def test_generate_non_streamed(records):
    client, _ = make(fixed(200, "ollama_generate.json"))
    m_ollama.instrument(client)
    assert client.generate(model="llama3.2", prompt="Why is the sky blue?").response.startswith("The sky is blue")
    [rec] = records
    assert rec["endpoint"] == "/api/generate"
    assert_tokens(rec, prompt_tokens=30, completion_tokens=11)


@pytest.mark.parametrize(
    ("method", "respond", "tokens"),
    [
        ("chat", CHAT_STREAM, {"prompt_tokens": 31, "completion_tokens": 6}),
        ("generate", GENERATE_STREAM, {"prompt_tokens": 28, "completion_tokens": 5}),
    ],
)
def test_streamed_app_sees_the_same_chunks(records, method, respond, tokens):
    args = {"messages": MESSAGES} if method == "chat" else {"prompt": "Why is the sky blue?"}
    plain, _ = make(respond)
    expected = [c.model_dump() for c in getattr(plain, method)(model="llama3.2", stream=True, **args)]
    client, _ = make(respond)
    m_ollama.instrument(client)
    stream = getattr(client, method)(model="llama3.2", stream=True, **args)
    assert inspect.isgenerator(stream)
    assert [c.model_dump() for c in stream] == expected
    [rec] = records
    assert rec["status"] == "success" and rec["endpoint"] == f"/api/{method}"
    assert_tokens(rec, **tokens)
    assert_timing(rec, streamed=True)


def test_http_500_is_failed(records):
    client, _ = make(fixed(500, "ollama_error_500.json"))
    m_ollama.instrument(client)
    with pytest.raises(ollama.ResponseError):
        client.chat(model="llama3.2", messages=MESSAGES)
    with pytest.raises(ollama.ResponseError):
        list(client.generate(model="llama3.2", prompt="x", stream=True))
    for rec in records:
        assert rec["status"] == "failed" and rec["model"] == "llama3.2"
        assert rec["error_message"] == (
            "ResponseError: llama runner process has terminated: exit status 2 (status code: 500)"
        )
    assert len(records) == 2


def test_429_is_rate_limited(records):
    client, _ = make(fixed(429, "ollama_error_429.json"))
    m_ollama.instrument(client)
    with pytest.raises(ollama.ResponseError):
        client.chat(model="llama3.2", messages=MESSAGES)
    [rec] = records
    assert rec["status"] == "rate_limited" and "hourly usage limit" in rec["error_message"]


def test_timeout_is_timeout(records):
    client, _ = make(timeout)
    m_ollama.instrument(client)
    with pytest.raises(httpx.ReadTimeout):
        client.generate(model="llama3.2", prompt="x")
    [rec] = records
    assert rec["status"] == "timeout" and rec["error_message"] == "ReadTimeout: timed out"


@pytest.mark.parametrize("how", ["close", "garbage", "never_started"])
def test_stream_stopped_early_is_cancelled(records, how):
    client, _ = make(CHAT_STREAM)
    m_ollama.instrument(client)
    stream = client.chat(model="llama3.2", messages=MESSAGES, stream=True)
    if how != "never_started":
        assert next(stream).message.content == "The"
    if how == "close":
        stream.close()
    del stream
    gc.collect()
    [rec] = records
    assert rec["status"] == "cancelled" and rec["model"] == "llama3.2"
    assert_tokens(rec)  # Ollama reports counts only in its final chunk
    if how != "never_started":
        assert_timing(rec, streamed=True)


def test_exception_is_reraised_unchanged(records):
    client, _ = make(fixed(200, "ollama_chat.json"))
    boom = ConnectionError("Failed to connect to Ollama.")

    def broken(*args, **kwargs):
        raise boom

    client.chat = broken
    m_ollama.instrument(client)
    with pytest.raises(ConnectionError) as info:
        client.chat(model="llama3.2", messages=MESSAGES)
    assert info.value is boom
    assert (
        records[0]["status"] == "failed"
        and records[0]["error_message"] == "ConnectionError: Failed to connect to Ollama."
    )


def test_instrument_twice_records_once(records):
    client, _ = make(fixed(200, "ollama_chat.json"))
    m_ollama.instrument(client)
    m_ollama.instrument(client, provider="ollama-gpu")
    client.chat(model="llama3.2", messages=MESSAGES)
    assert [r["provider_name"] for r in records] == ["ollama-gpu"]


def test_async_variants(records):
    async def main():
        client, _ = make(fixed(200, "ollama_chat.json"), is_async=True)
        assert m_ollama.instrument(client) is client
        await client.chat(model="llama3.2", messages=MESSAGES)
        client, _ = make(GENERATE_STREAM, is_async=True)
        m_ollama.instrument(client)
        parts = [p async for p in await client.generate(model="llama3.2", prompt="x", stream=True)]
        stream = await client.generate(model="llama3.2", prompt="x", stream=True)
        async for _part in stream:
            break
        await stream.aclose()
        client, _ = make(timeout, is_async=True)
        m_ollama.instrument(client)
        with pytest.raises(httpx.ReadTimeout):
            await client.chat(model="llama3.2", messages=MESSAGES)
        return parts

    parts = asyncio.run(main())
    assert "".join(p.response for p in parts) == "Rayleigh scattering."
    plain, streamed, stopped, timed_out = records
    assert_tokens(plain, prompt_tokens=26, completion_tokens=298)
    assert_tokens(streamed, prompt_tokens=28, completion_tokens=5)
    assert_timing(streamed, streamed=True)
    assert stopped["status"] == "cancelled" and timed_out["status"] == "timeout"


def test_end_to_end_into_sqlite(engine):
    client, _ = make(CHAT_STREAM)
    m_ollama.instrument(client)
    assert "".join(part.message.content for part in client.chat(model="llama3.2", messages=MESSAGES, stream=True))
    client, _ = make(timeout)
    m_ollama.instrument(client)
    with pytest.raises(httpx.ReadTimeout):
        client.generate(model="llama3.2", prompt="x")
    streamed, timed_out = stored_requests(engine)
    assert (streamed["provider"], streamed["model"], streamed["status"]) == ("ollama", "llama3.2", "success")
    assert (streamed["prompt_tokens"], streamed["completion_tokens"], streamed["endpoint"]) == (31, 6, "/api/chat")
    assert 0 < streamed["ttft_ms"] <= streamed["duration_ms"]
    assert streamed["cost_usd"] == 0  # a local provider
    assert (timed_out["status"], timed_out["endpoint"]) == ("timeout", "/api/generate")
