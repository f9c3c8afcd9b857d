"""instrument() under a hard budget: the worst case is held while the request is in flight, a
budget that would be exceeded raises before anything is sent, or the call falls back to a local
provider. Real SDK clients over MockTransport, recording into the test's database."""

from __future__ import annotations

import json
from decimal import Decimal

import anthropic
import httpx2
import openai
import pytest
from integration_support import Server, fixed, payload
from sqlalchemy import select

from metrics_core import BudgetExceeded, flush, storage
from metrics_core.integrations import anthropic as m_anthropic
from metrics_core.integrations import openai as m_openai
from metrics_core.integrations.budget_guard import output_bound, prompt_bound_text
from metrics_core.policy import budgets

MESSAGES = [{"role": "user", "content": "Hi"}]


def _openai(respond, base_url="https://api.openai.com/v1"):
    server = Server(respond)
    http = httpx2.Client(transport=httpx2.MockTransport(server.handler(httpx2.Response, httpx2)))
    return openai.OpenAI(api_key="sk-test", base_url=base_url, http_client=http, max_retries=0), server


def _anthropic(respond):
    server = Server(respond)
    http = httpx2.Client(transport=httpx2.MockTransport(server.handler(httpx2.Response, httpx2)))
    client = anthropic.Anthropic(api_key="sk-ant-test", base_url="https://api.anthropic.com", http_client=http)
    return client, server


def _holds(engine) -> list[Decimal]:
    with engine.connect() as conn:
        return [Decimal(str(a)) for a in conn.execute(select(storage.budget_holds.c.amount_usd)).scalars()]


def _stored(engine) -> list:
    flush()
    r, p = storage.requests, storage.providers
    with engine.connect() as conn:
        return conn.execute(
            select(p.c.name, r.c.model, r.c.status, r.c.cost_usd).join(p, p.c.id == r.c.provider_id).order_by(r.c.id)
        ).all()


def test_the_worst_case_is_held_while_the_request_is_in_flight(engine):
    budgets.set_budget(name="openai", amount_usd="1", scope="provider:openai", hard=True, engine=engine)
    seen = []

    def respond(request):
        seen.append(_holds(engine))
        return 200, payload("openai_chat_completion.json"), "application/json"

    client, server = _openai(respond)
    m_openai.instrument(client)
    client.chat.completions.create(model="o4-mini", messages=MESSAGES, max_completion_tokens=1000)
    # the request as JSON is 100 bytes: 100 x $1.10/M + 1000 output tokens x $4.40/M
    assert seen == [[Decimal("0.00451")]]
    assert server.bodies[0]["max_completion_tokens"] == 1000
    assert _holds(engine) == []
    assert _stored(engine) == [("openai", "o4-mini-2025-04-16", "success", Decimal("0.0019063"))]


def test_a_request_without_max_tokens_gets_the_default_bound_only_under_a_hard_budget(engine, monkeypatch):
    client, server = _openai(fixed(200, "openai_chat_completion.json"))
    m_openai.instrument(client)
    client.chat.completions.create(model="o4-mini", messages=MESSAGES)
    assert "max_completion_tokens" not in server.bodies[0]  # no hard budget: the request is untouched
    monkeypatch.setenv("LLM_METRICS_DEFAULT_MAX_OUTPUT_TOKENS", "2000")
    budgets.set_budget(name="all", amount_usd="1", hard=True, engine=engine)
    client.chat.completions.create(model="o4-mini", messages=MESSAGES)
    assert server.bodies[1]["max_completion_tokens"] == 2000


def test_a_budget_that_would_be_exceeded_raises_before_anything_is_sent(engine):
    # claude-sonnet-4-6, 1024 output tokens: 1024 x $15/M = $0.01536 plus the prompt at $3.75/M (cache writes)
    budgets.set_budget(name="claude", amount_usd="0.0150", scope="provider:claude", hard=True, engine=engine)
    client, server = _anthropic(fixed(200, "anthropic_message.json"))
    m_anthropic.instrument(client)
    with pytest.raises(BudgetExceeded) as info:
        client.messages.create(model="claude-sonnet-4-6", max_tokens=1024, messages=MESSAGES)
    text, allowance = prompt_bound_text({"model": "claude-sonnet-4-6", "max_tokens": 1024, "messages": MESSAGES})
    assert (len(text.encode()), allowance) == (99, 0)
    assert info.value.budget == "claude" and info.value.requested == Decimal("0.01573125")  # 99 x 3.75/M + 0.01536
    stream = client.messages.stream(model="claude-sonnet-4-6", max_tokens=1024, messages=MESSAGES)
    with pytest.raises(BudgetExceeded), stream as events:
        events.get_final_message()
    assert server.requests == [] and _stored(engine) == [] and _holds(engine) == []


def test_a_failed_call_is_recorded_and_its_hold_released(engine):
    budgets.set_budget(name="all", amount_usd="1", hard=True, engine=engine)
    client, _ = _openai(fixed(500, "openai_error_500.json"))
    m_openai.instrument(client)
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=10)
    assert _holds(engine) == []
    assert _stored(engine) == [("openai", "gpt-4o", "failed", Decimal(0))]


def test_fallback_sends_the_call_to_the_next_provider_by_priority(engine):
    budgets.set_budget(name="openai", amount_usd="0.001", scope="provider:openai", hard=True, engine=engine)
    local, local_server = _openai(fixed(200, "openai_chat_completion.json"), base_url="http://localhost:11434/v1")
    m_openai.instrument(local, provider="ollama")
    client, server = _openai(fixed(200, "openai_chat_completion.json"))
    m_openai.instrument(client, on_budget="fallback", fallbacks={"ollama": (local, "llama3.2")})
    client.chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=1000)
    assert server.requests == []
    assert local_server.bodies[0]["model"] == "llama3.2"
    assert _stored(engine) == [("ollama", "o4-mini-2025-04-16", "success", Decimal(0))]
    with pytest.raises(ValueError, match="on_budget must be one of raise, fallback"):
        m_openai.instrument(client, on_budget="ignore")


@pytest.mark.sqlite_only
def test_output_and_prompt_bounds():
    assert output_bound({"max_tokens": 10}) == 10
    assert output_bound({"max_output_tokens": 7}) == 7
    assert output_bound({"options": {"num_predict": 64}}) == 64
    assert output_bound({"options": {"num_predict": -1}}) is None
    assert output_bound({"max_tokens": True}) is None
    image = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
    text, allowance = prompt_bound_text({"messages": [{"role": "user", "content": [image]}]})
    assert allowance == 10_000 and json.loads(text)["messages"][0]["content"][0] == image


def test_async_clients_are_guarded_too(engine):
    import asyncio

    budgets.set_budget(name="all", amount_usd="0.001", hard=True, engine=engine)
    server = Server(fixed(200, "openai_chat_completion.json"))
    http = httpx2.AsyncClient(transport=httpx2.MockTransport(server.handler(httpx2.Response, httpx2)))
    client = m_openai.instrument(openai.AsyncOpenAI(api_key="sk-test", http_client=http, max_retries=0))

    async def call():
        return await client.chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=1000)

    with pytest.raises(BudgetExceeded) as info:
        asyncio.run(call())
    assert info.value.requested == Decimal("0.01022")  # 88 bytes x $2.50/M + 1000 x $10/M
    assert server.requests == []
