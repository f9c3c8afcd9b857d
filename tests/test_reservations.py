"""reserve(): the worst case held before a call, replaced by the actual cost after it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from sqlalchemy import select

import metrics_core
from metrics_core import BudgetExceeded, check_budget, flush, pick_provider, reserve, storage
from metrics_core.policy import budgets
from metrics_core.policy.reservations import prompt_token_bound, worst_case_cost
from metrics_core.recording.price_overrides import set_override

AT = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
GPT = dict(prompt_tokens=4000, max_output_tokens=4000)  # worst case $0.05 on gpt-4o


def _holds(engine) -> list:
    with engine.connect() as conn:
        return conn.execute(select(storage.budget_holds).order_by(storage.budget_holds.c.id)).all()


def _requests(engine) -> list:
    flush()
    r = storage.requests
    with engine.connect() as conn:
        return conn.execute(select(r.c.model, r.c.status, r.c.cost_usd, r.c.error_message).order_by(r.c.id)).all()


def _status(name, engine):
    return budgets.budget_status(budgets.get_budget(name, engine), engine=engine)


def test_reserve_is_public():
    assert "reserve" in metrics_core.__all__ and metrics_core.reserve is reserve


@pytest.mark.sqlite_only
@pytest.mark.parametrize(
    ("provider_type", "pricing_provider", "model", "prompt", "output", "expected"),
    [
        ("remote", "openai", "gpt-4o", 4000, 4000, Decimal("0.05")),  # 4000 x 2.50/M + 4000 x 10/M
        ("remote", "openai", "gpt-4o", 4000, 2000, Decimal("0.03")),
        # Anthropic's cache write (3.75/M) is dearer than its input (3/M): 4000 x 3.75/M + 4000 x 15/M
        ("remote", "anthropic", "claude-sonnet-4-5", 4000, 4000, Decimal("0.075")),
        ("local", None, "llama3.2", 4000, 4000, Decimal(0)),
        ("remote", "openai", "no-such-model", 4000, 4000, None),
    ],
    ids=["gpt-4o", "gpt-4o-short", "sonnet-cache-write", "local", "unpriced"],
)
def test_worst_case_cost(provider_type, pricing_provider, model, prompt, output, expected):
    cost = worst_case_cost(
        provider_type=provider_type,
        pricing_provider=pricing_provider,
        model=model,
        prompt_tokens=prompt,
        max_output_tokens=output,
        at=AT,
    )
    assert cost == expected


@pytest.mark.sqlite_only
def test_prompt_bound_is_the_utf8_byte_count():
    assert prompt_token_bound("hello") == 5
    assert prompt_token_bound("héllo") == 6
    assert prompt_token_bound("日本語") == 9
    with pytest.raises(ValueError, match="prompt_text"):
        prompt_token_bound(b"bytes")


def test_holds_against_every_covering_hard_budget_and_raises_before_the_call(engine):
    budgets.set_budget(name="all", amount_usd="0.12", hard=True, engine=engine)
    budgets.set_budget(name="openai", amount_usd="1", scope="provider:openai", hard=True, engine=engine)
    budgets.set_budget(name="claude", amount_usd="1", scope="provider:claude", hard=True, engine=engine)
    budgets.set_budget(name="soft", amount_usd="0.01", engine=engine)
    r1 = reserve("openai", "gpt-4o", **GPT)
    r2 = reserve("openai", "gpt-4o", **GPT)
    assert r1.amount == Decimal("0.05")
    assert sorted(r1.holds) == [("all", Decimal("0.05")), ("openai", Decimal("0.05"))]
    with pytest.raises(BudgetExceeded) as info:
        reserve("openai", "gpt-4o", **GPT)
    exc = info.value
    assert (exc.budget, exc.spent, exc.held, exc.requested, exc.limit) == (
        "all",
        Decimal(0),
        Decimal("0.10"),
        Decimal("0.05"),
        Decimal("0.12"),
    )
    assert str(exc) == (
        "hard budget 'all' would be exceeded: $0.0000 spent + $0.1000 held by calls in flight of $0.12 "
        f"this {datetime.now(UTC):%Y-%m}; this call may cost up to $0.0500"
    )
    assert len(_holds(engine)) == 4  # the refused call held nothing
    assert _requests(engine) == []
    st = _status("all", engine)
    assert (st.spent, st.held, st.percent, st.state) == (
        Decimal(0),
        Decimal("0.10"),
        Decimal("0.10") / Decimal("0.12") * 100,
        "warning",
    )
    assert _status("soft", engine).held == Decimal(0)
    r1.release()
    r2.release()
    assert _holds(engine) == []


def test_record_replaces_the_hold_by_the_actual_cost(engine):
    budgets.set_budget(name="cap", amount_usd="1", hard=True, engine=engine)
    with reserve("openai", "gpt-4o", tags={"project": "search"}, **GPT) as r:
        assert _status("cap", engine).held == Decimal("0.05")
        r.record(status="success", prompt_tokens=4000, completion_tokens=2500, duration_seconds=1.5)
        with pytest.raises(ValueError, match="already settled"):
            r.record(status="success")
    assert _holds(engine) == []
    assert _requests(engine) == [("gpt-4o", "success", Decimal("0.035"), None)]
    st = _status("cap", engine)
    assert (st.spent, st.held) == (Decimal("0.035"), Decimal(0))
    assert st.as_dict()["held_usd"] == 0.0 and st.as_dict()["spent_usd"] == 0.035


def test_leaving_without_record_releases_and_an_exception_records_the_failure(engine):
    budgets.set_budget(name="cap", amount_usd="1", hard=True, engine=engine)
    with reserve("openai", "gpt-4o", **GPT):
        pass
    assert _holds(engine) == [] and _requests(engine) == []
    with pytest.raises(TimeoutError), reserve("openai", "gpt-4o", **GPT):
        raise TimeoutError("the provider took too long")
    assert _holds(engine) == []
    assert _requests(engine) == [("gpt-4o", "timeout", Decimal(0), "TimeoutError: the provider took too long")]


def test_unknown_prompt_tokens_are_bounded_by_the_text_bytes(engine):
    budgets.set_budget(name="cap", amount_usd="1", hard=True, engine=engine)
    with reserve("openai", "gpt-4o", prompt_text="héllo" * 200, max_output_tokens=100) as r:
        # 1200 bytes x 2.50/M + 100 x 10/M
        assert r.amount == Decimal("0.004")


def test_scopes_local_providers_unpriced_models_and_price_overrides(engine):
    budgets.set_budget(name="search", amount_usd="1", scope="tag:project=search", hard=True, engine=engine)
    budgets.set_budget(name="gpt", amount_usd="1", scope="model:gpt-4o", hard=True, engine=engine)
    set_override(model="house-model", input_mtok=1, output_mtok=2, cache_write_mtok=5, engine=engine)
    budgets.set_budget(name="house", amount_usd="1", scope="model:house-model", hard=True, engine=engine)
    with reserve("claude", "claude-sonnet-4-5", prompt_tokens=10, max_output_tokens=10) as r:
        assert r.holds == []  # no budget covers it
    with reserve("claude", "claude-sonnet-4-5", tags={"project": "search"}, **GPT) as r:
        assert r.holds == [("search", Decimal("0.075"))]
    with reserve("ollama", "gpt-4o", **GPT) as r:
        assert (r.amount, r.holds) == (Decimal(0), [])  # local: costs nothing, holds nothing
    with reserve("openai", "no-such-model", **GPT) as r:
        assert (r.amount, r.holds) == (None, [])  # unpriced: not in any spend
    with reserve("openai", "house-model", prompt_tokens=1000, max_output_tokens=1000) as r:
        # the override's cache write (5/M) is its dearest input price: 1000 x 5/M + 1000 x 2/M
        assert r.holds == [("house", Decimal("0.007"))]


def test_check_budget_and_pick_provider_count_what_is_held(engine):
    budgets.set_budget(name="claude", amount_usd="0.075", scope="provider:claude", hard=True, engine=engine)
    assert pick_provider(provider_type="remote")["name"] == "claude"
    with reserve("claude", "claude-sonnet-4-5", **GPT):
        with pytest.raises(BudgetExceeded) as info:
            check_budget(provider="claude", model="claude-sonnet-4-5")
        assert (info.value.spent, info.value.held) == (Decimal(0), Decimal("0.075"))
        assert pick_provider(provider_type="remote")["name"] == "openai"
    check_budget(provider="claude", model="claude-sonnet-4-5")
    assert pick_provider(provider_type="remote")["name"] == "claude"


def test_a_hold_never_settled_expires_after_the_ttl_and_is_counted(engine, monkeypatch):
    monkeypatch.setenv("LLM_METRICS_RESERVATION_TTL", "60")
    budgets.set_budget(name="cap", amount_usd="0.05", hard=True, engine=engine)
    start = datetime.now(UTC).replace(hour=10, minute=0, second=0, microsecond=0)
    with time_machine.travel(start, tick=False):
        reserve("openai", "gpt-4o", **GPT)  # never settled: its process "died"
        with pytest.raises(BudgetExceeded):
            reserve("openai", "gpt-4o", **GPT)
    with time_machine.travel(start + timedelta(seconds=59), tick=False):
        st = _status("cap", engine)
        assert (st.held, st.expired_holds) == (Decimal("0.05"), 0)
    with time_machine.travel(start + timedelta(seconds=60), tick=False):
        st = _status("cap", engine)
        assert (st.held, st.expired_holds, st.as_dict()["expired_holds"]) == (Decimal(0), 1, 1)
        with reserve("openai", "gpt-4o", **GPT) as r:
            assert r.holds == [("cap", Decimal("0.05"))]


@pytest.mark.sqlite_only
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(max_output_tokens=-1, prompt_tokens=1), "max_output_tokens must be a whole number >= 0"),
        (dict(max_output_tokens=1.5, prompt_tokens=1), "max_output_tokens must be a whole number >= 0"),
        (dict(max_output_tokens=1), "give prompt_tokens, or prompt_text"),
        (dict(max_output_tokens=1, prompt_tokens=True), "prompt_tokens must be a whole number >= 0"),
        (dict(max_output_tokens=1, prompt_tokens=1, ttl_seconds=0), "ttl_seconds must be a number of seconds > 0"),
    ],
)
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        reserve("openai", "gpt-4o", **kwargs)
    with pytest.raises(ValueError, match="model must be a non-empty string"):
        reserve("openai", " ", prompt_tokens=1, max_output_tokens=1)
