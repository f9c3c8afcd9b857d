"""A cost that cannot be known is unknown on every surface: None in facade dicts, null in API JSON, an
empty CSV cell, ``unpriced`` in the Markdown report and CLI tables. Totals over a mix stay numbers
(the sum over priced calls) with ``unpriced_requests`` beside them."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import time_machine
from fastapi.testclient import TestClient

from metrics_core import LLMMetricsService, queries, record_request, reports
from metrics_core.cli import main as cli
from metrics_core.http_api import api_keys, create_app

NOW = datetime(2026, 11, 15, 12, tzinfo=UTC)


def calls():
    # gpt-4o-mini: 1,000 in, 500 out at $0.15 / $0.60 per million = $0.00015 + $0.0003 = $0.00045
    record_request(
        provider_name="openai", model="gpt-4o-mini", status="success", prompt_tokens=1000, completion_tokens=500,
        timestamp=NOW, sync=True,
    )  # fmt: skip
    for _ in range(2):  # a fine-tune genai-prices does not know: unpriced
        record_request(
            provider_name="openai", model="acme-ft", status="success", prompt_tokens=100, completion_tokens=10,
            timestamp=NOW, sync=True,
        )  # fmt: skip


def test_an_unpriced_model_is_unknown_and_totals_stay_numbers(engine, capsys):
    with time_machine.travel(NOW, tick=False):
        calls()
        costs = queries.cost_summary(7)
        by_model = {m["model"]: m for m in costs["by_model"]}
        assert by_model["acme-ft"]["total_cost_usd"] is None
        assert by_model["acme-ft"]["estimated_savings_usd"] is None
        assert by_model["acme-ft"]["unpriced_requests"] == 2
        assert str(by_model["gpt-4o-mini"]["total_cost_usd"]) == "0.0004500000"
        assert str(costs["total_cost_usd"]) == "0.0004500000" and costs["unpriced_requests"] == 2
        (openai,) = [p for p in costs["by_provider"] if p["provider"] == "openai"]
        assert openai["total_cost_usd"] is not None  # one priced call in the group: a number

        facade = LLMMetricsService.get_cost_summary(7)
        assert {m["model"]: m["total_cost_usd"] for m in facade["by_model"]} == {
            "acme-ft": None,
            "gpt-4o-mini": 0.00045,
        }
        assert f"{facade['total_cost_usd']:.2f}" == "0.00"  # the guide's formatting keeps working

        token, _ = api_keys.create_token(name="t", scope="read", engine=engine)
        with TestClient(create_app(token_cache_seconds=0)) as client:
            body = client.get("/api/llm/costs?days=7", headers={"Authorization": f"Bearer {token}"}).text
        assert '"model":"acme-ft"' in body.replace(" ", "")
        api = json.loads(body)
        assert [m["total_cost_usd"] for m in api["by_model"] if m["model"] == "acme-ft"] == [None]

        report = reports.monthly_report("2026-11")
        md = reports.render_md(report)
        (row,) = [line for line in md.splitlines() if "| acme-ft |" in line]
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells == ["openai", "acme-ft", "2", "unpriced", "$0.0009", "unpriced", "2"]  # spend, ref, savings
        rows = list(csv.DictReader(io.StringIO(reports.render_csv(report))))
        (cell,) = [r["value"] for r in rows if r["key"] == "openai/acme-ft" and r["metric"] == "total_cost_usd"]
        assert cell == ""

        record_request(provider_name="fresh", model="m", status="success", prompt_tokens=1, timestamp=NOW, sync=True)
        assert cli(["providers"]) == 0
        (line,) = [line for line in capsys.readouterr().out.splitlines() if " fresh " in line]
        assert "unpriced" in line
