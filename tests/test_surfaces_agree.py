"""One truth per number: the same figures read from every surface are equal.

One deterministic dataset (demo data, a two-hour outage, unpriced calls, tagged calls, a budget) and
the clock fixed at the end of November, so "the last 30 days" and "the report of 2026-11" are the
same window. Each figure — requests, spend, reference cost, savings, savings %, unpriced count,
per-model spend, p95 latency, availability per provider — is read from the facade, the HTTP API,
the CLI (``summary --json``, ``providers --json``), the report CSV, the dashboard (AppTest metric
values) and the query functions the notebooks call, and compared. A surface that computed a
figure its own way would disagree here.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import streamlit as st
import time_machine
from fastapi.testclient import TestClient
from streamlit.testing.v1 import AppTest

from metrics_core import LLMMetricsService, demo, queries, record_request, reports
from metrics_core import formatting as fmt
from metrics_core.cli import main as cli
from metrics_core.http_api import api_keys, create_app
from metrics_core.money import as_float
from metrics_core.policy import budgets

NOW = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)
DAYS = 30  # 2026-11-01 .. 2026-11-30, the month of the report
APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture
def dataset(engine):
    with time_machine.travel(NOW, tick=False):
        demo.load(engine, days=25, per_day=80, seed=11)
        # openai fails for two hours on 2026-11-20 (a call a minute), then recovers
        start = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
        for i in range(120):
            record_request(
                provider_name="openai", model="gpt-4o", status="timeout", duration_seconds=30.0,
                timestamp=start + timedelta(minutes=i), sync=True, error_message="Request timed out",
            )  # fmt: skip
        record_request(
            provider_name="openai", model="gpt-4o", status="success", prompt_tokens=100, completion_tokens=20,
            duration_seconds=1.2, timestamp=start + timedelta(hours=2), sync=True,
        )  # fmt: skip
        record_request(
            provider_name="openai", model="acme-finetune-x", status="success", prompt_tokens=500, completion_tokens=50,
            duration_seconds=0.8, timestamp=datetime(2026, 11, 21, 10, tzinfo=UTC), sync=True, tags={"project": "x"},
        )  # fmt: skip
        budgets.set_budget(name="team", amount_usd=50, engine=engine)
        yield engine


@pytest.fixture
def clock():
    with time_machine.travel(NOW + timedelta(minutes=1), tick=False):
        yield


def r6(value):
    """Money as the JSON surfaces write it (``money.as_float``: Decimal rounded to 1e-6, then float)."""
    if value is None:
        return None
    return as_float(value if isinstance(value, Decimal) else Decimal(str(value)), 6)


def expected():
    """The figures as the query functions define them (what notebooks call)."""
    costs = queries.cost_summary(DAYS)
    usage = queries.metrics(DAYS)
    avail = queries.availability(DAYS).set_index("provider")["availability_pct"].to_dict()
    return {
        "requests": costs["total_requests"],
        "spend": r6(costs["total_cost_usd"]),
        "reference": r6(costs["hypothetical_claude_cost_usd"]),
        "savings": r6(costs["estimated_savings_usd"]),
        "savings_pct": r6(costs["savings_percentage"]),
        "unpriced": costs["unpriced_requests"],
        "by_model": {(m["provider"], m["model"]): r6(m["total_cost_usd"]) for m in costs["by_model"]},
        "p95": usage["p95_response_time_ms"],
        "availability": avail,
    }


def from_json(costs: dict, usage: dict) -> dict:
    return {
        "requests": costs["total_requests"],
        "spend": r6(costs["total_cost_usd"]),
        "reference": r6(costs["hypothetical_claude_cost_usd"]),
        "savings": r6(costs["estimated_savings_usd"]),
        "savings_pct": r6(costs["savings_percentage"]),
        "unpriced": costs["unpriced_requests"],
        "by_model": {(m["provider"], m["model"]): r6(m["total_cost_usd"]) for m in costs["by_model"]},
        "p95": usage["p95_response_time_ms"],
    }


def without(figures: dict, *keys: str) -> dict:
    return {k: v for k, v in figures.items() if k not in keys}


def test_the_dataset_has_what_the_figures_must_survive(dataset, clock):
    figures = expected()
    assert figures["unpriced"] >= 1
    assert figures["by_model"][("openai", "acme-finetune-x")] is None  # an unpriced model: unknown, not $0
    # at least the two hours of failures down (the demo data has an outage of its own too)
    assert figures["availability"]["openai"] <= round(100 * (1 - 2 * 3600 / (DAYS * 86400 - 6 * 3600)), 3)
    assert figures["availability"]["ollama"] == 100.0


def test_facade_api_and_cli_agree_with_the_queries(dataset, clock, capsys):
    truth = expected()
    facade = from_json(LLMMetricsService.get_cost_summary(DAYS), LLMMetricsService.get_metrics(DAYS))
    assert facade == without(truth, "availability")

    token, _ = api_keys.create_token(name="surfaces", scope="read", engine=dataset)
    with TestClient(create_app(token_cache_seconds=0)) as client:
        headers = {"Authorization": f"Bearer {token}"}
        costs = client.get(f"/api/llm/costs?days={DAYS}", headers=headers).json()
        usage = client.get(f"/api/llm/metrics?days={DAYS}", headers=headers).json()
        availability = client.get(f"/api/llm/availability?days={DAYS}", headers=headers).json()
    assert from_json(costs, usage) == without(truth, "availability")
    assert {a["provider"]: a["availability_pct"] for a in availability} == truth["availability"]

    assert {a["provider"]: a["availability_pct"] for a in LLMMetricsService.get_availability(DAYS)} == truth[
        "availability"
    ]

    assert cli(["summary", "--days", str(DAYS), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert from_json(summary["costs"], summary["metrics"]) == without(truth, "availability")

    assert cli(["providers", "--days", str(DAYS), "--json"]) == 0
    listed = {p["name"]: p["availability_pct"] for p in json.loads(capsys.readouterr().out)}
    assert listed == truth["availability"]


def test_the_report_agrees_with_the_queries(dataset, clock):
    truth = expected()
    rows = list(csv.DictReader(io.StringIO(reports.render_csv(reports.monthly_report("2026-11")))))

    def value(section, key, metric):
        (row,) = [r for r in rows if (r["section"], r["key"], r["metric"]) == (section, key, metric)]
        return row["value"]

    assert int(value("total", "", "total_requests")) == truth["requests"]
    assert r6(value("total", "", "total_cost_usd")) == truth["spend"]
    assert r6(value("total", "", "hypothetical_claude_cost_usd")) == truth["reference"]
    assert r6(value("total", "", "estimated_savings_usd")) == truth["savings"]
    assert r6(value("total", "", "savings_percentage")) == pytest.approx(truth["savings_pct"], abs=1e-4)
    assert int(value("total", "", "unpriced_requests")) == truth["unpriced"]
    for (provider, model), cost in truth["by_model"].items():
        text = value("model", f"{provider}/{model}", "total_cost_usd")
        assert (None if text == "" else r6(text)) == cost
    for provider, pct in truth["availability"].items():
        assert float(value("availability", provider, "availability_pct")) == pct


def test_the_dashboard_agrees_with_the_queries(dataset, clock):
    truth = expected()
    costs, usage = queries.cost_summary(DAYS), queries.metrics(DAYS)
    st.cache_data.clear()
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception, at.exception
    kpis = {m.label: m.value for m in at.metric}
    assert kpis["Requests"] == fmt.count(truth["requests"])
    assert kpis["Spend"] == fmt.money(costs["total_cost_usd"])
    assert kpis["Savings"] == fmt.money(costs["estimated_savings_usd"])
    assert kpis["Savings %"] == fmt.pct(costs["savings_percentage"])
    assert kpis["p95 latency"] == fmt.ms(usage["p95_response_time_ms"])

    at.switch_page("pages/costs.py").run()
    assert not at.exception, at.exception
    kpis = {m.label: m.value for m in at.metric}
    assert kpis["Unpriced calls"] == fmt.count(truth["unpriced"])
    assert kpis[f"On {costs['reference_model']}"] == fmt.money(costs["hypothetical_claude_cost_usd"])

    at.switch_page("pages/providers.py").run()
    assert not at.exception, at.exception
    kpis = {m.label: m.value for m in at.metric}
    names = {p["name"]: p["display_name"] for p in queries.list_providers()}
    for provider, pct in truth["availability"].items():
        assert kpis[fmt.md(names[provider])] == fmt.pct(pct, 2)  # labels are escaped Markdown
    st.cache_data.clear()
