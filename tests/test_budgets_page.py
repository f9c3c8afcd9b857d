"""The dashboard's Budgets page, run with Streamlit's AppTest."""

from decimal import Decimal
from pathlib import Path

from streamlit.testing.v1 import AppTest

from metrics_core import alerts, budgets, flush, record_request

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "budgets.py")


def test_empty_page_invites_a_first_budget(engine):
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception
    assert "No budgets yet" in at.info[0].value
    at.text_input(key="budget_name").set_value("team")
    at.selectbox(key="budget_scope_kind").set_value("provider").run()
    assert at.selectbox(key="budget_scope_value").options == ["ollama", "localai", "claude", "openai"]
    at.selectbox(key="budget_scope_value").set_value("claude")
    at.button(key="budget_save").click().run()
    assert not at.exception
    assert [(b.name, b.scope_label, b.amount_usd) for b in budgets.list_budgets()] == [
        ("team", "provider:claude", Decimal(100))
    ]
    assert at.dataframe[0].value["name"].tolist() == ["team"]
    # the form starts over after a successful save
    assert at.text_input(key="budget_name").value == ""
    assert at.selectbox(key="budget_scope_kind").value == "all"


def test_page_shows_status_forecast_and_alert_history(engine):
    budgets.set_budget(name="cap", amount_usd="0.01", hard=True)
    record_request(
        provider_name="claude", model="claude-sonnet-4-5", status="success", prompt_tokens=1000, completion_tokens=500
    )
    flush()
    alerts.check(settings=alerts.AlertSettings())
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception
    status = at.dataframe[0].value
    assert status["state"].tolist() == ["over"] and status["spent_usd"].tolist() == [0.0105]
    assert "Hard budget spent: cap" in at.error[0].value
    history = at.dataframe[1].value
    assert set(history["rule"]) == {"budget_threshold"} and len(history) == 3


def test_bad_scope_is_reported_on_the_page(engine):
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    at.text_input(key="budget_name").set_value("x")
    at.selectbox(key="budget_scope_kind").set_value("tag").run()
    at.selectbox(key="budget_tag_key").set_value("team").run()  # a key nobody recorded yet, typed in
    at.button(key="budget_save").click().run()
    assert not at.exception
    assert "a tag scope is tag:KEY=VALUE" in at.error[0].value
    assert budgets.list_budgets() == []
    assert at.text_input(key="budget_name").value == "x"  # kept, to be corrected


def test_tag_scope_is_chosen_from_recorded_tags(engine):
    record_request(provider_name="ollama", model="llama3.2", status="success", tags={"project": "search"})
    record_request(provider_name="ollama", model="llama3.2", status="success", tags={"project": "support"})
    flush()
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    at.text_input(key="budget_name").set_value("search")
    at.selectbox(key="budget_scope_kind").set_value("tag").run()
    assert at.selectbox(key="budget_tag_key").options == ["project"]
    at.selectbox(key="budget_tag_key").set_value("project").run()
    assert at.selectbox(key="budget_tag_value").options == ["search", "support"]
    at.selectbox(key="budget_tag_value").set_value("search")
    at.button(key="budget_save").click().run()
    assert not at.exception
    assert [b.scope_label for b in budgets.list_budgets()] == ["tag:project=search"]
