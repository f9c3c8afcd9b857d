"""The dashboard in a real browser: `streamlit run app.py` on a free port, every page in headless
Chromium, a title, a drawn chart and no Streamlit error box; screenshots in artifacts/screenshots/."""

from __future__ import annotations

from pathlib import Path

import pytest
from browser import (
    APP_IDLE,
    EXCEPTION,
    assert_rendered,
    check_page,
    chromium,
    open_page,
    requires_chromium,
    screenshot,
    streamlit_server,
)

from metrics_core import demo, storage
from metrics_core.storage.migrations import ensure_schema

pytestmark = [requires_chromium, pytest.mark.sqlite_only]  # own SQLite demo database; PostgreSQL: test_dashboard.py

ROOT = Path(__file__).resolve().parents[1]
PAGES = [
    # url path, title, charts drawn at least
    ("", "Overview", 2),
    ("providers", "Providers & health", 1),
    ("usage", "Usage", 2),
    ("costs", "Costs & savings", 2),
    ("trends", "Trends", 2),
    ("budgets", "Budgets", 0),
    ("requests", "Request log", 0),
]
DATAFRAME = '[data-testid="stDataFrame"]'


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('dashboard') / 'metrics.db'}"
    engine = storage.create(url)
    ensure_schema(engine)
    demo.load(engine, days=45, per_day=200, seed=11)
    engine.dispose()
    return url


def serve(url: str, extra_env: dict | None = None, extra_args: tuple[str, ...] = ()):
    env = {"LLM_METRICS_DB_URL": url, "LLM_METRICS_DASHBOARD_PASSWORD": "", **(extra_env or {})}
    return streamlit_server(ROOT / "app.py", env=env, cwd=ROOT, extra_args=extra_args)


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:  # one Playwright per module: a second one in the same thread refuses to start
        yield b


@pytest.fixture(scope="module")
def site(demo_url, browser):
    with serve(demo_url) as base:
        yield base, browser


@pytest.mark.parametrize(("path", "title", "charts"), PAGES, ids=[p[1] for p in PAGES])
def test_every_page_renders_in_chromium(site, path, title, charts):
    base, browser = site
    page = open_page(browser, f"{base}/{path}")
    try:
        assert_rendered(page, title, charts=charts)
        page.get_by_role("heading", name=title).wait_for()
        page.get_by_text("Date window").first.wait_for()  # the sidebar of app.py is around the page
        if path == "requests":
            page.locator(DATAFRAME).first.wait_for(state="visible")
            page.get_by_text("matching calls").wait_for()
        page.wait_for_timeout(500)  # widgets finish drawing
        assert page.locator(EXCEPTION).count() == 0
        screenshot(page, f"dashboard-{path or 'overview'}")
    finally:
        page.context.close()


def test_sidebar_filters_stay_across_pages(site):
    base, browser = site
    page = open_page(browser, base)
    try:
        assert_rendered(page, "Overview", charts=1)
        page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').first.click()
        page.get_by_role("option", name="Last 7 days", exact=True).click()
        page.locator(APP_IDLE).wait_for()
        page.get_by_text("Last 7 days:").first.wait_for()
        page.get_by_role("link", name="Costs & savings").click()
        assert_rendered(page, "Costs & savings", charts=1)
        page.get_by_text("Last 7 days:").first.wait_for()
    finally:
        page.context.close()


def test_a_page_link_opened_first_on_a_fresh_server_runs_inside_the_app(demo_url, browser):
    with serve(demo_url) as base:
        check_page(browser, f"{base}/costs", "Date window", "dashboard-fresh-server-costs", charts=1)


def test_password_guards_every_page_even_on_a_fresh_server(demo_url, browser):
    with serve(demo_url, {"LLM_METRICS_DASHBOARD_PASSWORD": "correct horse"}) as base:
        page = open_page(browser, f"{base}/costs")
        try:
            assert_rendered(page, "Password")
            assert page.get_by_text("Costs & savings").count() == 0
            assert page.get_by_text("Date window").count() == 0
            page.get_by_label("Password", exact=True).fill("correct horse")
            page.get_by_role("button", name="Sign in").click()
            assert_rendered(page, "Date window", charts=1)
            page.get_by_role("heading", name="Costs & savings").wait_for()  # the page that was asked for
            screenshot(page, "dashboard-after-sign-in")
        finally:
            page.context.close()


def test_dark_theme(demo_url, browser):
    with serve(demo_url, extra_args=("--theme.base", "dark")) as base:
        for path, title, charts in PAGES[:5]:
            check_page(browser, f"{base}/{path}", title, f"dashboard-dark-{path or 'overview'}", charts=charts)


def test_empty_database_offers_the_demo(tmp_path, browser):
    with serve(f"sqlite:///{tmp_path / 'empty.db'}") as base:
        page = open_page(browser, base)
        try:
            assert_rendered(page, "Welcome to LLM metrics")
            page.get_by_role("button", name="Load demo data").wait_for()
            screenshot(page, "dashboard-first-run")
        finally:
            page.context.close()


def test_request_log_downloads_the_filtered_rows_as_csv(site, tmp_path):
    from playwright.sync_api import expect

    base, browser = site
    page = open_page(browser, f"{base}/requests")
    try:
        assert_rendered(page, "matching calls")
        unfiltered = page.get_by_text("matching calls").inner_text()
        page.locator('[data-testid="stMain"] [data-testid="stMultiSelect"]').first.click()
        page.get_by_role("option", name="timeout", exact=True).click()
        page.keyboard.press("Escape")
        # the rerun may not have started when the app first looks idle: wait for the count to change
        expect(page.get_by_text("matching calls")).not_to_have_text(unfiltered, timeout=30_000)
        page.locator(APP_IDLE).wait_for()
        shown = page.get_by_text("matching calls").inner_text()
        with page.expect_download() as download:
            page.get_by_role("button", name="Download CSV").click()
        path = tmp_path / "log.csv"
        download.value.save_as(path)
        lines = path.read_text().splitlines()
        assert lines[0].startswith("id,timestamp,")
        assert {line.split(",")[4] for line in lines[1:]} == {"timeout"}
        assert f"{len(lines) - 1:,} matching calls" in shown
    finally:
        page.context.close()
