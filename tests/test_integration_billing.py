"""The SDK integrations fill every billing dimension: Anthropic one-hour cache writes, web searches and
service tier; OpenAI service tiers and audio tokens (Chat Completions and Responses). Real SDK
clients, real-shaped payloads through httpx2.MockTransport, the real core storing into SQLite;
streamed and non-streamed calls cost the same.

Hand-computed: claude-sonnet-4-5 with 100 uncached input, 2,000 one-hour cache writes and 50 output
= 100*3 + 2000*6 + 50*15 = 13,050 micro-dollars = $0.01305, plus 3 web searches at $10 per 1000 =
$0.04305. gpt-5 1,000 in / 500 out: priority $2.50/$20 -> $0.0125; flex $0.625/$5 -> $0.003125.
gpt-realtime (responses): 2,000 text in at $4 + 8,000 audio in at $32 + 100 text out at $16 + 400
audio out at $64 = 8000 + 256000 + 1600 + 25600 micro-dollars = $0.2912.
"""

from __future__ import annotations

import json
from decimal import Decimal

import anthropic
import httpx2
import openai
import pytest
from integration_support import Server, fresh_core_db, stored_requests

from metrics_core.integrations import anthropic as m_anthropic
from metrics_core.integrations import openai as m_openai
from metrics_core.recording import dedupe


@pytest.fixture(autouse=True)
def no_dedupe(monkeypatch):
    """Each test sends the same recorded payload (one response id) streamed and not: here every one
    is a call of its own (tests/test_dedupe.py covers the one-response-one-call rule)."""
    monkeypatch.setattr(dedupe, "is_duplicate", lambda provider, response_id: False)


pytestmark = pytest.mark.sqlite_only  # the integrations record into their own SQLite file

TEN = Decimal("1e-10")
ANTHROPIC_USAGE = {
    "input_tokens": 100,
    "cache_creation_input_tokens": 2000,
    "cache_read_input_tokens": 0,
    "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 2000},
    "output_tokens": 50,
    "server_tool_use": {"web_search_requests": 3},
    "service_tier": "standard",
}


@pytest.fixture
def engine(tmp_path, monkeypatch):
    with fresh_core_db(tmp_path, monkeypatch) as engine:
        yield engine


def serve(body: bytes, content_type: str):
    server = Server(lambda request: (200, body, content_type))
    return httpx2.Client(transport=httpx2.MockTransport(server.handler(httpx2.Response, httpx2)))


def sse(events: list[dict], *, named: bool) -> bytes:
    out = []
    for event in events:
        head = f"event: {event['type']}\n" if named else ""
        out.append(f"{head}data: {json.dumps(event)}\n\n")
    if not named:
        out.append("data: [DONE]\n\n")
    return "".join(out).encode()


def cost(row) -> Decimal:
    return Decimal(str(row["cost_usd"])).quantize(TEN)


def anthropic_message() -> dict:
    return {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": [{"type": "text", "text": "Paris."}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": ANTHROPIC_USAGE,
    }


def anthropic_stream() -> bytes:
    start_usage = {**ANTHROPIC_USAGE, "output_tokens": 1, "server_tool_use": {"web_search_requests": 0}}
    message = {**anthropic_message(), "content": [], "stop_reason": None, "usage": start_usage}
    events = [
        {"type": "message_start", "message": message},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Paris."}},
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {
                "input_tokens": 100,
                "cache_creation_input_tokens": 2000,
                "cache_read_input_tokens": 0,
                "output_tokens": 50,
                "server_tool_use": {"web_search_requests": 3},
            },
        },
        {"type": "message_stop"},
    ]
    return sse(events, named=True)


def test_anthropic_one_hour_writes_and_searches_streamed_or_not(engine):
    plain = m_anthropic.instrument(
        anthropic.Anthropic(
            api_key="sk-ant-test", http_client=serve(json.dumps(anthropic_message()).encode(), "application/json")
        )
    )
    streamed = m_anthropic.instrument(
        anthropic.Anthropic(api_key="sk-ant-test", http_client=serve(anthropic_stream(), "text/event-stream"))
    )
    kwargs = dict(model="claude-sonnet-4-5", max_tokens=100, messages=[{"role": "user", "content": "Capital?"}])
    plain.messages.create(**kwargs)
    for _ in streamed.messages.create(stream=True, **kwargs):
        pass
    with streamed.messages.stream(**kwargs) as stream:
        stream.get_final_message()
    rows = stored_requests(engine)
    assert len(rows) == 3
    for row in rows:
        assert (row["prompt_tokens"], row["cache_write_tokens"], row["completion_tokens"]) == (2100, 2000, 50)
        assert json.loads(row["usage_details"]) == {"cache_write_1h_tokens": 2000, "web_searches": 3}
        assert row["service_tier"] == "default"
        assert cost(row) == Decimal("0.04305")


def chat_completion(tier: str) -> dict:
    return {
        "id": "chatcmpl-CWxyz",
        "object": "chat.completion",
        "created": 1764840000,
        "model": "gpt-5-2025-08-07",
        "service_tier": tier,
        "system_fingerprint": None,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Paris.", "refusal": None, "annotations": []},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": 1000,
            "completion_tokens": 500,
            "total_tokens": 1500,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 448,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
    }


def chat_stream(tier: str) -> bytes:
    full = chat_completion(tier)
    base = {k: full[k] for k in ("id", "created", "model", "service_tier", "system_fingerprint")}
    base["object"] = "chat.completion.chunk"
    chunks = [
        {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]},
        {**base, "choices": [{"index": 0, "delta": {"content": "Paris."}, "finish_reason": None}]},
        {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {**base, "choices": [], "usage": full["usage"]},
    ]
    return sse(chunks, named=False)


@pytest.mark.parametrize(("tier", "expected"), [("priority", Decimal("0.0125")), ("flex", Decimal("0.003125"))])
def test_openai_chat_service_tier_streamed_or_not(engine, tier, expected):
    plain = m_openai.instrument(
        openai.OpenAI(
            api_key="sk-test", http_client=serve(json.dumps(chat_completion(tier)).encode(), "application/json")
        )
    )
    streamed = m_openai.instrument(
        openai.OpenAI(api_key="sk-test", http_client=serve(chat_stream(tier), "text/event-stream"))
    )
    kwargs = dict(model="gpt-5", messages=[{"role": "user", "content": "Capital?"}], service_tier=tier)
    plain.chat.completions.create(**kwargs)
    chunks = list(streamed.chat.completions.create(stream=True, **kwargs))
    assert all(c.choices for c in chunks)  # the usage chunk this module asked for stays hidden
    rows = stored_requests(engine)
    assert [(r["service_tier"], r["reasoning_tokens"], cost(r)) for r in rows] == [(tier, 448, expected)] * 2


def realtime_response() -> dict:
    return {
        "id": "resp_68af",
        "object": "response",
        "created_at": 1764840000,
        "status": "completed",
        "model": "gpt-realtime",
        "service_tier": "default",
        "output": [
            {
                "type": "message",
                "id": "msg_1",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "Paris.", "annotations": []}],
            }
        ],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": {
            "input_tokens": 10000,
            "input_tokens_details": {"cached_tokens": 0, "audio_tokens": 8000},
            "output_tokens": 500,
            "output_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 400},
            "total_tokens": 10500,
        },
    }


def responses_stream() -> bytes:
    full = realtime_response()
    created = {**full, "status": "in_progress", "output": [], "usage": None}
    events = [
        {"type": "response.created", "sequence_number": 0, "response": created},
        {
            "type": "response.output_text.delta",
            "sequence_number": 1,
            "item_id": "msg_1",
            "output_index": 0,
            "content_index": 0,
            "delta": "Paris.",
            "logprobs": [],
        },
        {"type": "response.completed", "sequence_number": 2, "response": full},
    ]
    return sse(events, named=True)


def test_openai_responses_audio_streamed_or_not(engine):
    plain = m_openai.instrument(
        openai.OpenAI(
            api_key="sk-test", http_client=serve(json.dumps(realtime_response()).encode(), "application/json")
        )
    )
    streamed = m_openai.instrument(
        openai.OpenAI(api_key="sk-test", http_client=serve(responses_stream(), "text/event-stream"))
    )
    plain.responses.create(model="gpt-realtime", input="Capital?")
    list(streamed.responses.create(model="gpt-realtime", input="Capital?", stream=True))
    rows = stored_requests(engine)
    assert len(rows) == 2
    for row in rows:
        assert json.loads(row["usage_details"]) == {"input_audio_tokens": 8000, "output_audio_tokens": 400}
        assert (row["service_tier"], cost(row)) == ("default", Decimal("0.2912"))


def test_openai_responses_web_search_calls(engine):
    """gpt-5 with the web search tool: 1,000 in / 500 out at $1.25/$10 + 2 calls at $10 per 1000 =
    $0.00625 + $0.02 = $0.02625."""
    response = {
        **realtime_response(),
        "model": "gpt-5-2025-08-07",
        "output": [
            {
                "type": "web_search_call",
                "id": "ws_1",
                "status": "completed",
                "action": {"type": "search", "query": "a"},
            },
            {
                "type": "web_search_call",
                "id": "ws_2",
                "status": "completed",
                "action": {"type": "search", "query": "b"},
            },
            *realtime_response()["output"],
        ],
        "usage": {
            "input_tokens": 1000,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": 500,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 1500,
        },
    }
    client = m_openai.instrument(
        openai.OpenAI(api_key="sk-test", http_client=serve(json.dumps(response).encode(), "application/json"))
    )
    client.responses.create(model="gpt-5", input="News?", tools=[{"type": "web_search"}])
    [row] = stored_requests(engine)
    assert (json.loads(row["usage_details"]), cost(row)) == ({"web_searches": 2}, Decimal("0.02625"))


def test_openai_compatible_reasoning_priced_apart_and_provider_case(engine):
    """Perplexity through the OpenAI SDK: 10,000 in, 5,000 out of which 3,000 reasoning on
    sonar-deep-research = 10000*2 + 2000*8 + 3000*3 micro-dollars = $0.045. An OpenAI-compatible
    local server instrumented as provider "Ollama" is the local, free ollama."""
    body = {
        **chat_completion("default"),
        "model": "sonar-deep-research",
        "usage": {
            "prompt_tokens": 10000,
            "completion_tokens": 5000,
            "total_tokens": 15000,
            "completion_tokens_details": {"reasoning_tokens": 3000},
        },
    }
    body.pop("service_tier")
    perplexity = m_openai.instrument(
        openai.OpenAI(
            api_key="pplx-test",
            base_url="https://api.perplexity.ai",
            http_client=serve(json.dumps(body).encode(), "application/json"),
        ),
        provider="perplexity",
    )
    local = m_openai.instrument(
        openai.OpenAI(
            api_key="none",
            base_url="http://localhost:11434/v1",
            http_client=serve(json.dumps({**body, "model": "llama3.1:8b"}).encode(), "application/json"),
        ),
        provider="Ollama",
    )
    perplexity.chat.completions.create(model="sonar-deep-research", messages=[{"role": "user", "content": "Why?"}])
    local.chat.completions.create(model="llama3.1:8b", messages=[{"role": "user", "content": "Why?"}])
    first, second = stored_requests(engine)
    assert (first["provider"], first["reasoning_tokens"], cost(first)) == ("perplexity", 3000, Decimal("0.045"))
    assert (second["provider"], second["price_source"], cost(second)) == ("ollama", "local", Decimal("0"))
