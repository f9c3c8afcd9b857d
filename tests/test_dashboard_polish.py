"""Issue 13 in AppTest: request-log selection, row details, stable provider rows."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from metrics_core import demo, queries
from metrics_core.queries import Window

APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture(autouse=True)
def fresh_cache():
    st.cache_data.clear()
    yield
    st.cache_data.clear()


@pytest.fixture
def demo_db(engine):
    demo.load(engine, days=35, per_day=60, seed=7)
    return engine


def app(page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, at.exception
    return at


def select_row(at: AppTest, position: int) -> None:
    at.session_state["log_table"] = {"selection": {"rows": [position], "columns": [], "cells": []}}
    at.run()
    assert not at.exception, at.exception


def details_heading(at: AppTest) -> str | None:
    found = [m.value for m in at.markdown if m.value.startswith("**Call ")]
    return found[0] if found else None


def test_a_selection_is_dropped_when_filtering_hides_the_call(demo_db):
    at = app("requests")
    shown = at.dataframe[0].value
    select_row(at, 3)
    assert details_heading(at).startswith(f"**Call {shown['id'][3]}**")
    at.text_input(key="log_error").set_value("zzz").run()
    assert not at.exception, at.exception  # was IndexError: single positional indexer is out-of-bounds
    assert details_heading(at) is None
    at.text_input(key="log_error").set_value("").run()
    assert details_heading(at) is None  # the selection does not come back by position


def test_a_selection_follows_its_call_when_the_call_moves(demo_db):
    at = app("requests")
    shown = at.dataframe[0].value
    position = next(
        i for i, s in enumerate(shown["status"]) if s != "success" and i > 0 and shown["status"][0] == "success"
    )
    status = shown["status"][position]
    call_id = int(shown["id"][position])
    select_row(at, position)
    at.multiselect(key="log_status").set_value([status]).run()
    assert not at.exception
    filtered = at.dataframe[0].value
    assert list(filtered["id"]).index(call_id) != position  # the call moved up
    assert details_heading(at).startswith(f"**Call {call_id}**")
    assert at.session_state["log_table"]["selection"]["rows"] == [list(filtered["id"]).index(call_id)]


def test_row_details_show_numbers_as_numbers(demo_db):
    at = app("requests")
    shown = at.dataframe[0].value
    position = next(i for i, s in enumerate(shown["status"]) if s == "success")
    select_row(at, position)
    details = json.loads(at.json[0].value)
    row = queries.request_log(
        limit=1, offset=position, start=datetime.combine(Window.last(30).start, datetime.min.time())
    )
    assert details["prompt_tokens"] == int(row["prompt_tokens"][0])
    assert isinstance(details["prompt_tokens"], int) and isinstance(details["completion_tokens"], int)
    assert "np." not in at.json[0].value and "NaN" not in at.json[0].value


def toggle_order(at: AppTest) -> list[str]:
    return [t.key.split("_")[1] for t in at.toggle if t.key and t.key.startswith("enabled_")]


def test_changing_a_priority_keeps_the_rows_in_place(demo_db):
    at = app("providers")
    before = toggle_order(at)
    openai = queries.get_provider("openai")
    assert before.index(str(openai["id"])) > 0
    at.number_input(key=f"priority_{openai['id']}_{openai['priority']}").set_value(1).run()
    assert not at.exception
    assert queries.get_provider("openai")["priority"] == 1
    assert toggle_order(at) == before  # the next click lands on the row it aims at
    sort = next(b for b in at.button if b.label == "Sort by priority")
    sort.click().run()
    assert toggle_order(at)[:2] == sorted([str(queries.get_provider("ollama")["id"]), str(openai["id"])], key=int)


def test_a_provider_never_called_shows_no_calls_not_full_availability(engine):
    at = app("providers")
    availability = {m.label: m.value for m in at.metric}
    assert availability == {  # labels are Markdown: the names are escaped (formatting.md)
        r"Ollama \(Local\)": "no calls",
        "LocalAI": "no calls",
        r"Claude \(Anthropic\)": "no calls",
        "OpenAI GPT-4": "no calls",
    }
    details = at.dataframe[0].value
    assert details["Success"].tolist() == ["no calls"] * 4


def test_budgets_can_be_set_on_a_fresh_database(engine):
    at = app("budgets")
    assert [t.value for t in at.title] == ["Budgets"]  # not the first-run screen
    at.text_input(key="budget_name").set_value("team")
    at.number_input(key="budget_amount").set_value(25.0)
    at.button(key="budget_save").click().run()
    assert not at.exception
    from metrics_core import budgets

    assert [(b.name, b.scope_label, b.amount_usd) for b in budgets.list_budgets()] == [("team", "all", Decimal(25))]


def test_an_error_text_filter_pages_without_a_total_until_asked(demo_db):
    at = app("requests")
    at.selectbox(key="log_page_size").set_value(50).run()
    at.text_input(key="log_error").set_value("error").run()
    assert not at.exception
    start = datetime.combine(Window.last(30).start, datetime.min.time())
    matching = queries.request_count(start=start, error_contains="error")
    assert matching > 50  # more than one page
    texts = [m.value for m in at.markdown]
    assert "Calls **1–50** of many matching, newest first." in texts
    assert len(at.dataframe[0].value) == 50
    at.pagination(key="log_page").set_value(2).run()
    assert any(t.startswith("Calls **51–") for t in (m.value for m in at.markdown))
    at.button(key="log_count").click().run()
    assert any(f"**{matching:,}** matching calls" in m.value for m in at.markdown)
