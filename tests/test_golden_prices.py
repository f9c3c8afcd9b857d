"""The published price-accuracy suite: every case in tests/golden/prices.csv, end to end.

Each row is one call recorded with ``record_request(..., sync=True)``; the cost stored in
``llm_requests.cost_usd`` must equal the row's hand-computed ``expected_cost_usd`` (from the
provider's published price, never from genai-prices) to the column's 10 decimal places. A row with
an ``xfail_reason`` records a case where genai-prices' data is wrong against the published price:
it is a strict xfail, so it turns red the day genai-prices is fixed. See tests/golden/README.md.
"""

from __future__ import annotations

import csv
import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from metrics_core import record_request

CASES_FILE = Path(__file__).parent / "golden" / "prices.csv"
COLUMNS = [
    "case_id",
    "provider_name",
    "model",
    "timestamp",
    "prompt_tokens",
    "completion_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "service_tier",
    "usage_details",
    "expected_cost_usd",
    "price_per_mtok",
    "price_date",
    "source_url",
    "note",
    "xfail_reason",
]
TOKEN_COLUMNS = ("prompt_tokens", "completion_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens")
SERVICE_TIERS = ("default", "auto", "priority", "flex", "batch")
TEN_PLACES = Decimal("1e-10")


def stored_costs() -> list:
    """Every ``llm_requests.cost_usd`` in the test's database (the one place that knows the schema)."""
    from metrics_core import storage as db

    with db.get_engine().connect() as conn:
        return list(conn.execute(select(db.requests.c.cost_usd)).scalars())


def load_cases() -> list[dict]:
    with CASES_FILE.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == COLUMNS, f"{CASES_FILE.name} columns: {reader.fieldnames}"
        return list(reader)


def _params() -> list:
    params = []
    for row in load_cases():
        marks = []
        if row["xfail_reason"]:
            marks.append(pytest.mark.xfail(reason=row["xfail_reason"], raises=AssertionError, strict=True))
        params.append(pytest.param(row, id=row["case_id"], marks=marks))
    return params


@pytest.mark.sqlite_only  # reads the CSV only
def test_cases_are_well_formed():
    rows = load_cases()
    assert len(rows) >= 60
    ids = [row["case_id"] for row in rows]
    assert len(ids) == len(set(ids)), "case_id must be unique"
    for row in rows:
        case = row["case_id"]
        tokens = {name: int(row[name]) for name in TOKEN_COLUMNS}
        assert min(tokens.values()) >= 0, case
        assert tokens["cache_read_tokens"] + tokens["cache_write_tokens"] <= tokens["prompt_tokens"], case
        assert tokens["reasoning_tokens"] <= tokens["completion_tokens"], case
        assert row["service_tier"] in ("", *SERVICE_TIERS), case
        details = json.loads(row["usage_details"]) if row["usage_details"] else {}
        assert isinstance(details, dict), case
        assert all(type(v) is int and v >= 0 for v in details.values()), case
        assert Decimal(row["expected_cost_usd"]) >= 0, case
        assert datetime.fromisoformat(row["timestamp"]).utcoffset() is not None, case
        assert row["price_per_mtok"] and row["note"], case
        if row["provider_name"] not in ("ollama", "localai"):
            assert row["price_date"] and row["source_url"].startswith("https://"), case


@pytest.mark.parametrize("row", _params())
def test_golden_price(row):
    kwargs = {name: int(row[name]) for name in TOKEN_COLUMNS}
    if row["service_tier"]:
        kwargs["service_tier"] = row["service_tier"]
    if row["usage_details"]:
        kwargs["usage_details"] = json.loads(row["usage_details"])
    record_request(
        provider_name=row["provider_name"],
        model=row["model"],
        status="success",
        timestamp=datetime.fromisoformat(row["timestamp"]),
        sync=True,
        **kwargs,
    )

    costs = stored_costs()
    assert len(costs) == 1
    assert costs[0] is not None, f"{row['model']} at {row['provider_name']} was stored unpriced"
    stored = Decimal(str(costs[0])).quantize(TEN_PLACES)
    assert stored == Decimal(row["expected_cost_usd"]).quantize(TEN_PLACES)
