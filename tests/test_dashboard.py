"""The Streamlit dashboard in AppTest: every page on a database with known contents."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import streamlit as st
from sqlalchemy import text
from streamlit.testing.v1 import AppTest

from dashboard import auth, filters
from metrics_core import clock, demo, queries, record_request, storage
from metrics_core import formatting as fmt
from metrics_core.policy import providers
from metrics_core.queries import Window

APP = str(Path(__file__).resolve().parents[1] / "app.py")
PAGES = {
    "overview": "Overview",
    "providers": "Providers & health",
    "usage": "Usage",
    "costs": "Costs & savings",
    "trends": "Trends",
    "budgets": "Budgets",
    "requests": "Request log",
}


@pytest.fixture(autouse=True)
def fresh_cache():
    st.cache_data.clear()
    yield
    st.cache_data.clear()


@pytest.fixture
def demo_db(engine):
    """35 days of deterministic demo traffic (about 1,500 calls, an outage, unpriced calls)."""
    demo.load(engine, days=35, per_day=60, seed=7)
    return engine


def app(page: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60).run()
    if page:
        at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, at.exception
    return at


def kpis(at: AppTest) -> dict[str, tuple[str, str | None]]:
    return {m.label: (m.value, m.delta or None) for m in at.metric}


def titles(at: AppTest) -> list[str]:
    return [t.value for t in at.title]


@pytest.mark.parametrize("page", list(PAGES))
def test_every_page_renders_inside_the_app(demo_db, page):
    at = app(page)
    assert titles(at) == [PAGES[page]]
    # the frame ran around the page: the sidebar's filters are there
    assert at.sidebar.selectbox(key=filters.WINDOW_KEY).value == filters.DEFAULT_PRESET


def test_overview_kpis_equal_what_metrics_core_computes(demo_db):
    at = app()
    window = Window.last(30)
    usage, costs = queries.metrics(window=window), queries.cost_summary(window=window)
    # deltas: the 29 complete days against the 29 before (today is still running)
    complete = Window(window.start, clock.today() - timedelta(days=1))
    assert queries.comparison(window).current == complete
    then, before = queries.metrics(window=complete), queries.metrics(window=complete.previous())
    costs_then, costs_before = queries.cost_summary(window=complete), queries.cost_summary(window=complete.previous())
    shown = kpis(at)
    assert shown["Requests"] == (
        fmt.count(usage["total_requests"]),
        fmt.delta(then["total_requests"], before["total_requests"]),
    )
    assert shown["Success rate"] == (
        fmt.pct(usage["success_rate"]),
        fmt.delta(then["success_rate"], before["success_rate"], kind="points"),
    )
    assert shown["Spend"][0] == fmt.money(costs["total_cost_usd"])
    assert shown["Spend"][1] == fmt.delta(costs_then["total_cost_usd"], costs_before["total_cost_usd"], kind="money")
    assert shown["Savings"][0] == fmt.money(costs["estimated_savings_usd"])
    assert shown["Savings %"][0] == fmt.pct(costs["savings_percentage"])
    assert shown["p95 latency"][0] == fmt.ms(usage["p95_response_time_ms"])
    assert usage["total_requests"] > 0 and costs["total_cost_usd"] > 0


def test_overview_attention_list_names_unpriced_calls_and_open_circuits(demo_db):
    for _ in range(5):
        record_request(provider_name="openai", model="gpt-4o", status="failed", timestamp=datetime.now(UTC), sync=True)
    at = app()
    errors = " ".join(e.value for e in at.error)
    warnings = " ".join(w.value for w in at.warning)
    assert "OpenAI GPT-4" in errors and "circuit open" in errors
    unpriced = queries.cost_summary(30)["unpriced_requests"]
    assert f"{fmt.count(unpriced)} calls have no known price" in warnings
    assert "acme-support-ft-v2" in warnings


def test_filters_change_the_figures_and_stay_across_pages(demo_db):
    at = app()
    at.sidebar.selectbox(key=filters.WINDOW_KEY).set_value(filters.LAST_7).run()
    at.sidebar.multiselect(key=filters.PROVIDERS_KEY).set_value(["claude"]).run()
    assert not at.exception
    expected = queries.metrics(window=Window.last(7), providers=["claude"])
    assert kpis(at)["Requests"][0] == fmt.count(expected["total_requests"])
    at.switch_page("pages/costs.py").run()
    assert titles(at) == ["Costs & savings"]
    assert at.sidebar.selectbox(key=filters.WINDOW_KEY).value == filters.LAST_7
    assert at.sidebar.multiselect(key=filters.PROVIDERS_KEY).value == ["claude"]
    costs = queries.cost_summary(window=Window.last(7), providers=["claude"])
    assert kpis(at)["Spend"][0] == fmt.money(costs["total_cost_usd"])
    assert "providers: claude" in at.caption[0].value


def test_model_filter_and_custom_range(demo_db):
    at = app("usage")
    at.sidebar.selectbox(key=filters.WINDOW_KEY).set_value(filters.CUSTOM).run()
    today = clock.today()
    at.sidebar.date_input(key=filters.RANGE_KEY).set_value((today - timedelta(days=3), today)).run()
    at.sidebar.multiselect(key=filters.MODELS_KEY).set_value(["llama3.2"]).run()
    assert not at.exception
    expected = queries.metrics(window=Window(today - timedelta(days=3), today), models=["llama3.2"])
    assert kpis(at)["Requests"][0] == fmt.count(expected["total_requests"])


def test_new_calls_show_up_without_clearing_the_cache(demo_db):
    at = app()
    before = queries.metrics(30)["total_requests"]
    assert kpis(at)["Requests"][0] == fmt.count(before)
    record_request(provider_name="ollama", model="llama3.2", status="success", sync=True)
    at.run()
    assert kpis(at)["Requests"][0] == fmt.count(before + 1)


def test_toggling_a_provider_writes_the_database_and_shows_at_once(demo_db):
    at = app("providers")
    claude = queries.get_provider("claude")
    assert claude["enabled"]
    at.toggle(key=f"enabled_{claude['id']}_1").set_value(False).run()
    assert not at.exception
    assert queries.get_provider("claude")["enabled"] is False
    assert at.toggle(key=f"enabled_{claude['id']}_0").value is False
    at.toggle(key=f"enabled_{claude['id']}_0").set_value(True).run()
    assert queries.get_provider("claude")["enabled"] is True


def test_priority_and_circuit_reset_write_through_metrics_core(demo_db):
    now = datetime.now(UTC)
    for i in range(5):
        record_request(
            provider_name="claude",
            model="claude-haiku-4-5",
            status="timeout",
            timestamp=now + timedelta(seconds=i),
            sync=True,
        )
    claude = queries.get_provider("claude")
    assert claude["circuit_state"] == "open"
    at = app("providers")
    at.number_input(key=f"priority_{claude['id']}_{claude['priority']}").set_value(9).run()
    assert queries.get_provider("claude")["priority"] == 9
    at.button(key=f"reset_{claude['id']}").click().run()
    assert not at.exception
    after = queries.get_provider("claude")
    assert (after["circuit_state"], after["failure_count"]) == ("closed", 0)
    assert at.button(key=f"reset_{claude['id']}").disabled


def test_changes_made_elsewhere_show_on_the_next_run(demo_db):
    at = app("providers")
    providers.set_enabled("ollama", False)
    at.run()
    assert at.toggle(key="enabled_1_0").value is False


def test_costs_page_shows_unpriced_calls_as_such(demo_db):
    at = app("costs")
    costs = queries.cost_summary(30)
    assert kpis(at)["Unpriced calls"][0] == fmt.count(costs["unpriced_requests"])
    assert any("acme-support-ft-v2" in w.value for w in at.warning)
    for view in ("Model", "Tag"):
        at.segmented_control(key="costs_breakdown").set_value(view).run()
        assert not at.exception
    at.selectbox(key="costs_tag_key").set_value("user").run()
    assert not at.exception
    table = at.dataframe[0].value
    assert set(table["tag_value"]) == set(queries.tag_costs(30, tag_key="user")["tag_value"])


def test_trends_measures(demo_db):
    at = app("trends")
    for measure in ("tokens", "cost_usd", "requests"):
        at.segmented_control(key="trends_measure").set_value(measure).run()
        assert not at.exception


def test_request_log_filters_pages_and_counts_in_sql(demo_db):
    at = app("requests")
    start = datetime.combine(Window.last(30).start, datetime.min.time())
    total = queries.request_count(start=start)
    assert f"**{fmt.count(total)}** matching calls" in at.markdown[0].value or any(
        f"**{fmt.count(total)}** matching calls" in m.value for m in at.markdown
    )
    first_page = at.dataframe[0].value
    assert len(first_page) == 100
    at.selectbox(key="log_page_size").set_value(50).run()
    assert len(at.dataframe[0].value) == 50
    at.pagination(key="log_page").set_value(2).run()
    second = at.dataframe[0].value
    assert len(second) == 50 and set(second["id"]).isdisjoint(set(first_page["id"][:50]))
    at.multiselect(key="log_status").set_value(["timeout"]).run()
    timeouts = queries.request_count(start=start, statuses=["timeout"])
    assert any(f"**{fmt.count(timeouts)}** matching calls" in m.value for m in at.markdown)
    assert set(at.dataframe[0].value["status"]) == {"timeout"}
    newest = queries.request_log(start=start, statuses=["timeout"], limit=50)
    assert list(at.dataframe[0].value["id"]) == list(newest["id"])  # new filters start at the first page
    at.text_input(key="log_error").set_value("TIMED OUT").run()
    assert not at.exception
    at.selectbox(key="log_tag_key").set_value("project").run()
    at.selectbox(key="log_tag_value").set_value("search").run()
    assert not at.exception
    expected = queries.request_count(
        start=start, statuses=["timeout"], tag=("project", "search"), error_contains="timed out"
    )
    # an error-text filter reads raw rows: the page says "of many" and counts only when asked
    assert not any("matching calls" in m.value for m in at.markdown)
    at.button(key="log_count").click().run()
    assert any(f"**{fmt.count(expected)}** matching calls" in m.value for m in at.markdown)


def test_budgets_page_renders_inside_the_app(demo_db):
    at = app("budgets")
    assert "No budgets yet" in at.info[0].value
    assert at.sidebar.selectbox(key=filters.WINDOW_KEY).value == filters.DEFAULT_PRESET


def test_auto_refresh_option_runs(demo_db):
    at = app()
    at.sidebar.selectbox(key=filters.REFRESH_KEY).set_value("Every 30 s").run()
    assert not at.exception
    assert titles(at) == ["Overview"]


def test_empty_database_explains_recording_and_loads_the_demo(engine):
    at = app()
    assert titles(at) == ["Welcome to LLM metrics"]
    assert "record_request(" in at.code[0].value
    assert not queries.has_calls()
    at.button[0].click().run(timeout=120)
    assert not at.exception
    assert queries.has_calls()
    assert titles(at) == ["Overview"]


def test_empty_database_still_offers_the_providers_page(engine):
    at = app("providers")
    assert titles(at) == ["Providers & health"]


def test_a_database_that_cannot_be_opened_gets_a_message(tmp_path, monkeypatch):
    bad = tmp_path / "not-a-database.db"
    bad.write_bytes(b"this is not sqlite " * 100)
    monkeypatch.setenv("LLM_METRICS_DB_URL", f"sqlite:///{bad}")
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert "cannot be opened" in at.error[0].value


def test_a_database_from_a_newer_version_gets_a_message(engine):
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    storage.dispose_all()
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert "newer than this dashboard" in at.error[0].value


def test_password_is_asked_before_anything_is_shown(demo_db, monkeypatch):
    # (a page's URL opened directly on a fresh server is covered by test_dashboard_browser.py)
    monkeypatch.setenv(auth.PASSWORD_ENV, "s3cret pässword")
    monkeypatch.setattr(auth, "WRONG_PASSWORD_DELAY", 0)
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert titles(at) == ["LLM metrics"] and not at.metric and not at.sidebar.selectbox
    at.text_input[0].input("wrong")
    at.button[0].click().run()
    assert at.error[0].value == "Wrong password." and not at.metric
    at.text_input[0].input("s3cret pässword")
    at.button[0].click().run()
    assert not at.exception
    assert titles(at) == ["Overview"] and at.metric
    at.switch_page("pages/costs.py").run()
    assert titles(at) == ["Costs & savings"]


@pytest.mark.parametrize("page", list(PAGES))
def test_every_page_copes_with_a_window_without_calls(engine, page):
    demo.load(engine, days=5, per_day=40, seed=1, now=datetime.now(UTC) - timedelta(days=60))
    at = app(page)
    assert titles(at) == [PAGES[page]]
    if page == "overview":
        assert kpis(at)["Requests"] == ("0", None)
        assert kpis(at)["p95 latency"][0] == "—"


# The monthly budget "tiny" ($0.01) is spent once the month has a few days of demo traffic: on the
# 15th at noon. At 00:05 on the 1st the month has no call yet and nothing would be spent.
@pytest.mark.time_machine(datetime(2026, 6, 15, 12, 0, tzinfo=UTC), tick=True)
def test_overview_lists_budgets_at_risk(demo_db):
    from metrics_core import budgets

    budgets.set_budget(name="tiny", amount_usd="0.01")
    budgets.set_budget(name="roomy", amount_usd="1000000")
    at = app()
    errors = " ".join(e.value for e in at.error)
    assert "Budget tiny" in errors and "is spent" in errors
    assert "roomy" not in errors + " ".join(w.value for w in at.warning)
