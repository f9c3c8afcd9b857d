"""The Costs page's provenance panel and the request log's price source, in AppTest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import streamlit as st
import time_machine
from streamlit.testing.v1 import AppTest

from metrics_core import clock, record_request
from metrics_core.recording import price_overrides

APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture(autouse=True)
def near_the_bundled_data():
    """Figures here count the calls of the last days and the age of genai-prices 0.2.3's bundled data:
    keep "now" a few days after the calls (any real date would drift away from both)."""
    with time_machine.travel(datetime(2026, 11, 25, 12, 0, tzinfo=UTC), tick=True):
        yield


@pytest.fixture(autouse=True)
def fresh_cache():
    st.cache_data.clear()
    yield
    st.cache_data.clear()


@pytest.fixture
def calls(engine):
    now = datetime.now(UTC) - timedelta(hours=1)
    override = price_overrides.set_override(model="m-own", provider="acme", input_mtok=1, output_mtok=1, engine=engine)
    for provider, model, n in (("claude", "claude-sonnet-4-5", 3), ("Ollama", "llama3", 2), ("acme", "m-own", 1)):
        for _ in range(n):
            record_request(
                provider_name=provider,
                model=model,
                status="success",
                prompt_tokens=1000,
                completion_tokens=100,
                timestamp=now,
                sync=True,
            )
    record_request(provider_name="openai", model="no-such-model", status="success", timestamp=now, sync=True)
    return override


def page(name: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page(f"pages/{name}.py").run()
    assert not at.exception, at.exception
    return at


def test_costs_page_counts_calls_per_price_source(engine, calls):
    from metrics_core.recording import registry

    with engine.connect() as conn:
        [override_id] = [o.id for o in registry.load_overrides(conn).values()]
    at = page("costs")
    table = at.dataframe[-1].value
    assert list(zip(table["price_source"], table["calls"], strict=True)) == [
        ("genai-prices:0.2.3", 3),
        ("local", 2),
        (f"override:{override_id}", 1),
        ("unpriced", 1),
    ]
    assert any("Price data in use: **genai-prices:0.2.3**" in c.value for c in at.caption)
    assert not any("days old (more than 60)" in w.value for w in at.warning)


def test_costs_page_warns_when_the_price_data_is_old(engine, calls):
    with time_machine.travel(datetime.combine(clock.today() + timedelta(days=180), datetime.min.time(), UTC)):
        at = page("costs")
    assert any("more than 60" in w.value and "llm-metrics prices update" in w.value for w in at.warning)


def test_request_log_shows_the_price_source(engine, calls):
    at = page("requests")
    table = at.dataframe[0].value
    assert sorted(set(table["price_source"])) == sorted(
        {"genai-prices:0.2.3", "local", "unpriced", *(s for s in table["price_source"] if s.startswith("override:"))}
    )
    assert len(table) == 7


def test_csv_export_carries_provenance_tier_and_details(engine):
    import csv
    import io

    from dashboard import data

    record_request(
        provider_name="openai",
        model="gpt-5",
        status="success",
        prompt_tokens=1000,
        completion_tokens=500,
        service_tier="priority",
        usage_details={"web_searches": 2},
        sync=True,
    )
    [row] = list(csv.DictReader(io.StringIO(data.log_csv({}).decode())))
    assert (row["price_source"], row["service_tier"], row["usage_details"]) == (
        "genai-prices:0.2.3",
        "priority",
        '{"web_searches": 2}',
    )
    # gpt-5 priority: 1000 x $2.50 + 500 x $20 per million + 2 web searches x $10 per 1000
    assert row["cost_usd"] == "0.0325"
