"""Savings against the reference model, and unpriced calls kept out of the totals."""

from decimal import Decimal

import pytest

from metrics_core import LLMMetricsService, queries, record_request


def test_the_issue_example_nine_local_one_remote():
    for _ in range(9):
        record_request(
            provider_name="ollama", model="llama3.2", status="success", prompt_tokens=1000, completion_tokens=500
        )
    record_request(
        provider_name="claude", model="claude-sonnet-4-5", status="success", prompt_tokens=1000, completion_tokens=500
    )
    c = queries.cost_summary(30)
    assert c["total_cost_usd"] == Decimal("0.0105")
    assert c["hypothetical_claude_cost_usd"] == Decimal("0.105")
    assert c["estimated_savings_usd"] == Decimal("0.0945")
    assert c["savings_percentage"] == Decimal("90")
    facade = LLMMetricsService.get_cost_summary(30)
    assert (facade["total_cost_usd"], facade["hypothetical_claude_cost_usd"]) == (0.0105, 0.105)
    assert (facade["estimated_savings_usd"], facade["savings_percentage"]) == (0.0945, 90.0)


def test_unpriced_calls_are_counted_and_left_out_of_totals():
    record_request(
        provider_name="claude", model="claude-sonnet-4-5", status="success", prompt_tokens=1000, completion_tokens=500
    )
    record_request(
        provider_name="openai", model="acme-internal-model", status="success", prompt_tokens=1000, completion_tokens=500
    )
    c = queries.cost_summary(30)
    assert c["unpriced_requests"] == 1
    assert c["total_cost_usd"] == Decimal("0.0105")  # not 0.0105 + a silent 0 price
    assert c["hypothetical_claude_cost_usd"] == Decimal("0.021")  # every call has a reference cost
    assert c["estimated_savings_usd"] == Decimal("0")  # only priced calls are compared
    log = queries.request_log()
    unpriced = log[log["model"] == "acme-internal-model"].iloc[0]
    assert unpriced["price_source"] == "unpriced" and unpriced["cost_usd"] != unpriced["cost_usd"]  # NaN


def test_reference_model_is_configurable(monkeypatch):
    monkeypatch.setenv("LLM_METRICS_REFERENCE_PROVIDER", "openai")
    monkeypatch.setenv("LLM_METRICS_REFERENCE_MODEL", "gpt-4o")
    record_request(
        provider_name="ollama", model="llama3.2", status="success", prompt_tokens=1000, completion_tokens=500
    )
    c = queries.cost_summary(30)
    assert c["hypothetical_claude_cost_usd"] == Decimal("0.0075")  # 1000 x $2.50 + 500 x $10
    assert c["reference_model"] == "gpt-4o"


@pytest.mark.parametrize("local", ["ollama", "localai"])
def test_local_default_providers_are_free(local):
    record_request(
        provider_name=local, model="claude-sonnet-4-5", status="success", prompt_tokens=1000, completion_tokens=500
    )
    assert queries.cost_summary(30)["total_cost_usd"] == Decimal(0)
