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
    at.text_input[0].set_value("team")
    at.text_input[1].set_value("provider:claude")
    at.button[0].click().run()
    assert not at.exception
    assert [(b.name, b.scope_label, b.amount_usd) for b in budgets.list_budgets()] == [
        ("team", "provider:claude", Decimal(100))
    ]
    assert at.dataframe[0].value["name"].tolist() == ["team"]


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
    at.text_input[0].set_value("x")
    at.text_input[1].set_value("team:x")
    at.button[0].click().run()
    assert not at.exception
    assert "scope must be all, provider:NAME" in at.error[0].value
    assert budgets.list_budgets() == []
