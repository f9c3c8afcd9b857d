"""Every billing dimension: reasoning priced apart, one-hour cache writes, service tiers, web searches,
audio; unknown usage; case-insensitive provider names; through record_request and the HTTP API.

The four wrong figures of issue 10, each by hand:
1. perplexity sonar-deep-research, 10,000 in, 5,000 out of which 3,000 reasoning ($2 in, $8 out,
   $3 reasoning per million): 10000*2 + 2000*8 + 3000*3 = 45,000 micro-dollars = $0.045.
2. claude-sonnet-4-5, 100 uncached + 2,000 one-hour cache writes in, 50 out ($3, $6 for one-hour
   writes, $15): 100*3 + 2000*6 + 50*15 = 13,050 micro-dollars = $0.01305.
3. gpt-5, 1,000 in / 500 out ($1.25/$10; priority $2.50/$20, flex and batch $0.625/$5):
   default $0.00625, priority $0.0125, flex $0.003125, batch $0.003125.
4. ``provider_name="Ollama"`` is the local ollama: $0.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from metrics_core import record_request, storage
from metrics_core.http_api import api_keys
from metrics_core.http_api import app as http_api_app
from metrics_core.recording import price_overrides, reprice

NOV = datetime(2026, 11, 2, 10, tzinfo=UTC)
TEN = Decimal("1e-10")

SONAR = dict(provider_name="perplexity", model="sonar-deep-research", prompt_tokens=10_000, completion_tokens=5_000)
ONE_HOUR = dict(
    provider_name="claude",
    model="claude-sonnet-4-5",
    prompt_tokens=2_100,
    completion_tokens=50,
    cache_write_tokens=2_000,
    usage_details={"cache_write_1h_tokens": 2_000},
)
GPT5 = dict(provider_name="openai", model="gpt-5", prompt_tokens=1_000, completion_tokens=500)


def rows() -> list[dict]:
    r, p = storage.requests, storage.providers
    with storage.get_engine().connect() as conn:
        result = conn.execute(
            select(r, p.c.name.label("provider"), p.c.display_name, p.c.provider_type)
            .join(p, p.c.id == r.c.provider_id)
            .order_by(r.c.id)
        )
        return [dict(row._mapping) for row in result]


def money(value) -> Decimal | None:
    return None if value is None else Decimal(str(value)).quantize(TEN)


def record(**kwargs) -> dict:
    record_request(status="success", timestamp=NOV, sync=True, **kwargs)
    return rows()[-1]


# -- the four wrong figures, through record_request ---------------------------------------------


def test_reasoning_priced_apart():
    row = record(**SONAR, reasoning_tokens=3_000)
    assert money(row["cost_usd"]) == Decimal("0.045")
    assert row["price_source"] == "genai-prices:0.2.3"
    # a batch without tiers or details writes the base columns; the others take their defaults
    assert (row["service_tier"], row["usage_details"], row["usage_known"]) == (None, None, True)


def test_one_hour_cache_writes():
    row = record(**ONE_HOUR)
    assert money(row["cost_usd"]) == Decimal("0.01305")
    assert json.loads(row["usage_details"]) == {"cache_write_1h_tokens": 2000}
    # the same writes without the one-hour detail are five-minute writes: 100*3 + 2000*3.75 + 50*15
    assert money(record(**{**ONE_HOUR, "usage_details": None})["cost_usd"]) == Decimal("0.00855")


@pytest.mark.parametrize(
    ("tier", "stored", "expected"),
    [
        (None, None, Decimal("0.00625")),
        ("default", "default", Decimal("0.00625")),
        ("auto", "default", Decimal("0.00625")),
        ("priority", "priority", Decimal("0.0125")),
        ("flex", "flex", Decimal("0.003125")),
        ("batch", "batch", Decimal("0.003125")),
        ("PRIORITY", "priority", Decimal("0.0125")),
    ],
)
def test_service_tiers(tier, stored, expected):
    row = record(**GPT5, service_tier=tier)
    assert (row["service_tier"], money(row["cost_usd"])) == (stored, expected)


def test_provider_names_are_case_insensitive():
    row = record(provider_name="Ollama", model="llama3.1:8b", prompt_tokens=5000, completion_tokens=500)
    assert (row["provider"], row["provider_type"], row["price_source"]) == ("ollama", "local", "local")
    assert row["cost_usd"] == Decimal("0")
    # a new name is stored in lower case, its display name as first written; later spellings are the same
    first = record(provider_name="MyCloud", model="m", prompt_tokens=1, completion_tokens=1)
    second = record(provider_name="MYCLOUD", model="m", prompt_tokens=1, completion_tokens=1)
    assert (first["provider"], first["display_name"]) == ("mycloud", "MyCloud")
    assert second["provider_id"] == first["provider_id"]


def test_local_providers_setting_is_case_insensitive(monkeypatch):
    monkeypatch.setenv("LLM_METRICS_LOCAL_PROVIDERS", "MyGPU")
    row = record(provider_name="mygpu", model="qwen", prompt_tokens=10, completion_tokens=10)
    assert (row["provider_type"], row["cost_usd"]) == ("local", 0)


def test_overrides_take_any_case(engine):
    price_overrides.set_override(model="m-x", provider="AcmeAI", input_mtok="1", output_mtok="2", engine=engine)
    row = record(provider_name="acmeai", model="m-x", prompt_tokens=1000, completion_tokens=1000)
    [override] = price_overrides.list_overrides(engine)
    assert override["provider_name"] == "acmeai"
    # 1000 x $1 + 1000 x $2 per million
    assert (money(row["cost_usd"]), row["price_source"]) == (Decimal("0.003"), f"override:{override['id']}")


# -- more dimensions -----------------------------------------------------------------------------


def test_web_searches_and_audio():
    # claude-sonnet-4-5 web search $10 per 1000: 1000*3 + 200*15 micro-dollars + 3 searches x $0.01
    row = record(
        provider_name="claude",
        model="claude-sonnet-4-5",
        prompt_tokens=1000,
        completion_tokens=200,
        usage_details={"web_searches": 3},
    )
    assert money(row["cost_usd"]) == Decimal("0.036")
    # gpt-realtime: text $4 in / $16 out, audio $32 in / $64 out per million:
    # 2000 text*4 + 8000 audio*32 + 100 text out*16 + 400 audio out*64 = 8000+256000+1600+25600 micro-dollars
    row = record(
        provider_name="openai",
        model="gpt-realtime",
        prompt_tokens=10_000,
        completion_tokens=500,
        usage_details={"input_audio_tokens": 8000, "output_audio_tokens": 400},
    )
    assert money(row["cost_usd"]) == Decimal("0.2912")


def test_unknown_usage_is_stored_unpriced():
    row = record(provider_name="openai", model="gpt-5", prompt_tokens=None, completion_tokens=None)
    assert (row["cost_usd"], row["reference_cost_usd"], row["price_source"], row["usage_known"]) == (
        None,
        None,
        "unpriced",
        False,
    )
    assert (row["prompt_tokens"], row["completion_tokens"]) == (0, 0)
    # repricing keeps it unpriced (it is not a call of 0 tokens)
    assert reprice.reprice(storage.get_engine())["changed"] == 0
    assert rows()[-1]["cost_usd"] is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"service_tier": "scale"}, r"service_tier must be one of default, priority, flex, batch, auto"),
        ({"service_tier": 1}, r"service_tier must be one of"),
        ({"usage_details": {"images": 1}}, r"usage_details has an unknown key 'images'; allowed keys: cache_write_1h"),
        ({"usage_details": {"web_searches": -1}}, r"usage_details\['web_searches'\] must be a whole number"),
        ({"usage_details": {"web_searches": 1.5}}, r"usage_details\['web_searches'\] must be a whole number"),
        ({"usage_details": [1]}, r"usage_details must be a dict"),
        (
            {"usage_details": {"cache_write_1h_tokens": 10}},
            r"usage_details\['cache_write_1h_tokens'\] must not exceed cache_write_tokens",
        ),
        (
            {"usage_details": {"input_audio_tokens": 1001}},
            r"usage_details\['input_audio_tokens'\] must not exceed prompt_tokens",
        ),
        (
            {"usage_details": {"output_audio_tokens": 501}},
            r"usage_details\['output_audio_tokens'\] must not exceed completion_tokens",
        ),
    ],
)
def test_invalid_tier_or_details_write_nothing(kwargs, message):
    with pytest.raises(ValueError, match=message):
        record_request(status="success", sync=True, **GPT5, **kwargs)
    assert rows() == []


def test_reprice_uses_the_stored_tier_and_details(engine):
    record(**GPT5, service_tier="priority")
    record(**ONE_HOUR)
    r = storage.requests
    with engine.begin() as conn:  # as if priced wrongly before
        conn.execute(r.update().values(cost_usd=Decimal("0.5"), price_source="genai-prices:old"))
    dry = reprice.reprice(engine, dry_run=True)
    assert dry["changed"] == 2 and [money(x["cost_usd"]) for x in rows()] == [Decimal("0.5")] * 2
    assert dry["models"] == {
        ("openai", "gpt-5"): {"changed": 1, "cost_before": Decimal("0.5"), "cost_after": Decimal("0.0125")},
        ("claude", "claude-sonnet-4-5"): {
            "changed": 1,
            "cost_before": Decimal("0.5"),
            "cost_after": Decimal("0.01305"),
        },
    }
    done = reprice.reprice(engine)
    assert done["changed"] == 2
    assert [money(x["cost_usd"]) for x in rows()] == [Decimal("0.0125"), Decimal("0.01305")]
    with engine.connect() as conn:
        total = conn.execute(select(storage.costs_daily.c.cost_usd)).scalars().all()
    assert sum(money(t) for t in total) == Decimal("0.02555")


# -- through the HTTP API ------------------------------------------------------------------------


@pytest.fixture
def api(metrics_db, engine):
    token = api_keys.create_token(name="w", scope="write", engine=engine)[0]
    with TestClient(http_api_app.create_app(token_cache_seconds=0)) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        yield client


def test_api_takes_every_dimension(api):
    calls = [
        {**SONAR, "reasoning_tokens": 3000},
        {**ONE_HOUR},
        {**GPT5, "service_tier": "priority"},
        {**GPT5, "service_tier": "flex"},
        {"provider_name": "Ollama", "model": "llama3.1:8b", "prompt_tokens": 10, "completion_tokens": 5},
        {"provider_name": "openai", "model": "gpt-5", "prompt_tokens": None, "completion_tokens": None},
    ]
    body = [{**c, "status": "success", "timestamp": NOV.isoformat()} for c in calls]
    r = api.post("/api/llm/record", json=body)
    assert r.status_code == 200, r.text
    got = [(x["provider"], money(x["cost_usd"]), x["price_source"]) for x in rows()]
    genai = "genai-prices:0.2.3"
    assert got == [
        ("perplexity", Decimal("0.045"), genai),
        ("claude", Decimal("0.01305"), genai),
        ("openai", Decimal("0.0125"), genai),
        ("openai", Decimal("0.003125"), genai),
        ("ollama", Decimal("0"), "local"),
        ("openai", None, "unpriced"),
    ]


def test_api_rejects_bad_details_and_writes_nothing(api):
    good = {**GPT5, "status": "success"}
    r = api.post("/api/llm/record", json=[good, {**good, "usage_details": {"images": 1}}])
    assert r.status_code == 422
    assert "usage_details has an unknown key 'images'" in r.text
    r = api.post("/api/llm/record", json=[good, {**good, "service_tier": "scale"}])
    assert r.status_code == 422 and "service_tier" in r.text
    assert rows() == []
