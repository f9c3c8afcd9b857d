"""The Costs page's "Billed vs recorded" section in AppTest, over the recorded-vs-billed fixture."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import streamlit as st
import time_machine
from streamlit.testing.v1 import AppTest
from test_billing_reconcile import pull_both, recorded  # noqa: F401  (the recorded calls of the fixture)

from dashboard import filters

APP = str(Path(__file__).resolve().parents[1] / "app.py")
NOW = datetime(2026, 11, 5, 9, 0, tzinfo=UTC)  # the default "Last 30 days" holds 2026-11-02 .. 04


@pytest.fixture(autouse=True)
def fresh_cache():
    st.cache_data.clear()
    yield
    st.cache_data.clear()


def costs_page(providers: list[str] | None = None) -> AppTest:
    with time_machine.travel(NOW, tick=True):
        at = AppTest.from_file(APP, default_timeout=60).run()
        at.switch_page("pages/costs.py").run()
        if providers is not None:
            at.sidebar.multiselect(key=filters.PROVIDERS_KEY).set_value(providers).run()
    assert not at.exception, at.exception
    return at


def test_the_section_shows_coverage_drift_and_the_largest_gaps(recorded) -> None:  # noqa: F811
    pull_both(recorded)
    at = costs_page()
    assert "Billed vs recorded" in [s.value for s in at.subheader]
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["openai coverage"], metrics["openai drift"]) == ("65.2%", "+10.7%")
    assert (metrics["anthropic coverage"], metrics["anthropic drift"]) == ("20.5%", "-85.4%")
    gaps = at.dataframe[-1].value
    assert list(zip(gaps["provider"], gaps["model"], gaps["drift_pct"], strict=True))[:3] == [
        ("anthropic", "claude-sonnet-4-5", -100.0),
        ("openai", "gpt-4o", 20.0),
        ("openai", "gpt-4o", 20.0),
    ]
    assert any("Coverage = recorded tokens / billed tokens" in c.value for c in at.caption)


def test_the_provider_filter_keeps_the_billing_provider_it_maps_to(recorded) -> None:  # noqa: F811
    pull_both(recorded)
    at = costs_page(["claude"])
    assert [m.label for m in at.metric if "coverage" in m.label or "drift" in m.label] == [
        "anthropic coverage",
        "anthropic drift",
    ]


def test_no_section_before_the_first_pull(recorded) -> None:  # noqa: F811
    at = costs_page()
    assert "Billed vs recorded" not in [s.value for s in at.subheader]
