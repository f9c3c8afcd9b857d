"""Budgets: storage and validation, spend per scope from the rollups, hard budgets that block and fall back."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import delete

import metrics_core
from metrics_core import BudgetExceeded, budgets, flush, pick_provider, record_request, storage
from metrics_core.policy import providers

# 1,000 prompt + 500 completion tokens on claude-sonnet-4-5 ($3 / $15 per million) = $0.0105
CALL = Decimal("0.0105")


def claude_calls(n, **kw):
    for _ in range(n):
        record_request(
            provider_name="claude",
            model="claude-sonnet-4-5",
            status="success",
            prompt_tokens=1000,
            completion_tokens=500,
            duration_seconds=1.0,
            **kw,
        )
    flush()


def test_public_api_exports_check_budget_and_budget_exceeded():
    assert {"check_budget", "BudgetExceeded"} <= set(metrics_core.__all__)


def test_set_list_replace_delete(engine):
    b = budgets.set_budget(name="team", amount_usd="100", engine=engine)
    assert (b.scope, b.period, b.thresholds, b.hard, b.amount_usd) == ("all", "monthly", (50, 80, 100), False, 100)
    budgets.set_budget(
        name="search",
        amount_usd=5,
        scope="tag:project=search",
        period="weekly",
        thresholds="25, 75",
        hard=True,
        engine=engine,
    )
    again = budgets.set_budget(name="team", amount_usd=120.5, scope="provider:claude", engine=engine)
    assert again.id == b.id and again.amount_usd == Decimal("120.5") and again.scope_label == "provider:claude"
    listed = budgets.list_budgets(engine)
    assert [(x.name, x.scope_label, x.period, x.thresholds, x.hard) for x in listed] == [
        ("search", "tag:project=search", "weekly", (25, 75), True),
        ("team", "provider:claude", "monthly", (50, 80, 100), False),
    ]
    assert budgets.delete_budget("team", engine) is True
    assert budgets.delete_budget("team", engine) is False
    with pytest.raises(budgets.BudgetNotFound):
        budgets.get_budget("team", engine)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"amount_usd": 0}, "amount_usd must be a finite number > 0"),
        ({"amount_usd": "lots"}, "amount_usd must be a number"),
        ({"amount_usd": "NaN"}, "amount_usd must be a finite number"),
        ({"amount_usd": 1, "period": "yearly"}, "period must be one of monthly, weekly, daily"),
        ({"amount_usd": 1, "scope": "team:x"}, "scope must be all, provider:NAME"),
        ({"amount_usd": 1, "scope": "tag:project"}, "tag:KEY=VALUE"),
        ({"amount_usd": 1, "thresholds": "50,abc"}, "thresholds must be percents"),
        ({"amount_usd": 1, "thresholds": [0]}, "thresholds must be percents > 0"),
        ({"amount_usd": 1, "hard": "yes"}, "hard must be True or False"),
    ],
    ids=["zero", "text", "nan", "period", "scope", "tag", "threshold-text", "threshold-zero", "hard"],
)
def test_bad_input_names_the_field(engine, kwargs, message):
    with pytest.raises(ValueError, match=message):
        budgets.set_budget(name="x", engine=engine, **kwargs)
    assert budgets.list_budgets(engine) == []


def test_spend_per_scope_comes_from_the_rollups(engine):
    claude_calls(3, tags={"project": "search"})
    claude_calls(2, tags={"project": "support"})
    record_request(
        provider_name="ollama",
        model="llama3.2",
        status="success",
        prompt_tokens=5000,
        completion_tokens=500,
        tags={"project": "search"},
    )
    flush()
    cases = {
        "all": 5,
        "provider:claude": 5,
        "provider:openai": 0,
        "model:claude-sonnet-4-5": 5,
        "model:llama3.2": 0,
        "tag:project=search": 3,
        "tag:project=support": 2,
    }
    for i, scope in enumerate(cases):
        budgets.set_budget(name=f"b{i}", amount_usd=1, scope=scope, engine=engine)
    with engine.begin() as conn:  # the raw rows are gone; budgets read the rollups
        conn.execute(delete(storage.requests))
    got = {s.budget.scope_label: s.spent for s in budgets.statuses(engine=engine)}
    assert got == {scope: CALL * n for scope, n in cases.items()}
    status = budgets.get_budget("b0", engine)
    st = budgets.budget_status(status, engine=engine)
    assert st.percent == CALL * 5 * 100 and st.crossed == () and st.state == "ok"


def test_thresholds_crossed_and_state(engine):
    budgets.set_budget(name="small", amount_usd="0.05", engine=engine)
    claude_calls(4)  # $0.042 = 84%
    st = budgets.statuses(engine=engine)[0]
    assert st.crossed == (50, 80) and st.state == "warning" and not st.exhausted
    claude_calls(1)  # $0.0525 = 105%
    st = budgets.statuses(engine=engine)[0]
    assert st.crossed == (50, 80, 100) and st.state == "over" and st.exhausted
    assert st.as_dict()["percent"] == 105.0


def test_hard_budget_blocks_with_name_spend_and_limit(engine):
    budgets.set_budget(name="claude-cap", amount_usd="0.03", scope="provider:claude", hard=True, engine=engine)
    budgets.set_budget(name="soft-all", amount_usd="0.01", engine=engine)  # soft: never raises
    claude_calls(2)
    metrics_core.check_budget(provider="claude")  # $0.021 of $0.03
    claude_calls(1)
    with pytest.raises(BudgetExceeded) as info:
        metrics_core.check_budget(provider="claude", model="claude-sonnet-4-5")
    err = info.value
    assert (err.budget, err.spent, err.limit) == ("claude-cap", CALL * 3, Decimal("0.03"))
    assert "claude-cap" in str(err) and "$0.03 of $0.03" in str(err)
    metrics_core.check_budget(provider="openai")  # another provider's calls are not covered
    metrics_core.check_budget(provider="ollama")  # local calls cost nothing and are never blocked


def test_tag_and_model_hard_budgets(engine):
    budgets.set_budget(name="search", amount_usd="0.02", scope="tag:project=search", hard=True, engine=engine)
    budgets.set_budget(name="sonnet", amount_usd="0.04", scope="model:claude-sonnet-4-5", hard=True, engine=engine)
    claude_calls(2, tags={"project": "search"})
    with pytest.raises(BudgetExceeded, match="'search'"):
        metrics_core.check_budget(provider="claude", tags={"project": "search"})
    metrics_core.check_budget(provider="claude", tags={"project": "support"})
    claude_calls(2)
    with pytest.raises(BudgetExceeded, match="'sonnet'"):
        metrics_core.check_budget(provider="claude", model="claude-sonnet-4-5")
    metrics_core.check_budget(provider="claude", model="claude-haiku-4-5")
    # pick_provider: a tag budget blocks remote providers only for calls with that tag
    assert pick_provider(provider_type="remote")["name"] == "claude"
    assert pick_provider(provider_type="remote", tags={"project": "search"}) is None


def test_pick_provider_falls_back_to_local_when_the_hard_budget_is_spent(engine):
    providers.set_priority("claude", 1, engine)
    providers.set_priority("ollama", 2, engine)
    assert pick_provider()["name"] == "claude"
    budgets.set_budget(name="remote-cap", amount_usd="0.02", hard=True, engine=engine)
    claude_calls(1)
    assert pick_provider()["name"] == "claude"
    claude_calls(1)  # $0.021 >= $0.02
    picked = pick_provider()
    assert picked["name"] == "ollama" and picked["provider_type"] == "local"
    assert pick_provider(provider_type="remote") is None
    budgets.set_budget(name="remote-cap", amount_usd="0.02", hard=False, engine=engine)  # soft now
    assert pick_provider()["name"] == "claude"


def test_pick_provider_skips_only_the_provider_whose_budget_is_spent(engine):
    budgets.set_budget(name="claude-cap", amount_usd="0.01", scope="provider:claude", hard=True, engine=engine)
    claude_calls(1)
    assert pick_provider(provider_type="remote")["name"] == "openai"
    assert pick_provider()["name"] == "ollama"


def test_a_new_period_starts_from_zero(engine):
    budgets.set_budget(name="daily", amount_usd="0.01", period="daily", hard=True, engine=engine)
    yesterday = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0) - timedelta(days=1)
    claude_calls(2, timestamp=yesterday)
    with pytest.raises(BudgetExceeded):
        metrics_core.check_budget(provider="claude", now=yesterday)
    metrics_core.check_budget(provider="claude")  # today: nothing spent yet
