"""Every page in Chromium, on the demo and on a fresh database: no literal ``None``, ``nan``, ``NaT``
or ``np.`` anywhere in the text a person sees (tables included), and no horizontal scrolling of the
request log at 1440 px."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from browser import APP_IDLE, CHART, EXCEPTION, chromium, open_page, requires_chromium, screenshot, streamlit_server

from metrics_core import demo, storage
from metrics_core.storage.migrations import ensure_schema

pytestmark = [requires_chromium, pytest.mark.sqlite_only]

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["", "providers", "usage", "costs", "trends", "budgets", "requests"]
FORBIDDEN = re.compile(r"\b(None|nan|NaN|NaT)\b|\bnp\.")
# the text of the page, the SVG text of charts and the cells of every table (glide-data-grid draws
# cells on a canvas; its accessible copy of the cells is in the DOM)
TEXT_JS = """() => [...document.querySelectorAll('[data-testid="stMain"], [data-testid="stSidebar"]')]
  .map(e => e.innerText + '\\n'
    + [...e.querySelectorAll('svg text, table td, table th')].map(t => t.textContent).join('\\n'))
  .join('\\n')"""


def serve(url: str):
    env = {"LLM_METRICS_DB_URL": url, "LLM_METRICS_DASHBOARD_PASSWORD": ""}
    return streamlit_server(ROOT / "app.py", env=env, cwd=ROOT)


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def demo_database(path: Path) -> str:
    url = f"sqlite:///{path}"
    engine = storage.create(url)
    ensure_schema(engine)
    demo.load(engine, days=45, per_day=120, seed=11)
    engine.dispose()
    return url


def fresh_database(path: Path) -> str:
    url = f"sqlite:///{path}"
    engine = storage.create(url)
    ensure_schema(engine)
    engine.dispose()
    return url


def drawn(page) -> None:
    """Wait until the page has settled (idle, same number of elements for a second), then until every
    table has its cells and every chart its marks (both draw after the run)."""
    count = -1
    for _ in range(60):
        page.locator(APP_IDLE).wait_for(timeout=30_000)
        now = page.locator('[data-testid="stMain"] *').count()
        if now == count:
            break
        count = now
        page.wait_for_timeout(1000)
    tables = page.locator('[data-testid="stDataFrame"]')
    for i in range(tables.count()):
        tables.nth(i).locator("table").first.wait_for(state="attached", timeout=30_000)
    charts = page.locator(CHART)
    for i in range(charts.count()):
        charts.nth(i).locator(".marks").first.wait_for(state="attached", timeout=30_000)
    page.wait_for_timeout(300)


def open_details(page) -> None:
    """Select the request log's first row (its checkbox, drawn on the canvas) and wait for its details."""
    table = page.locator('[data-testid="stDataFrame"]').first
    box = table.bounding_box()
    x, y = box["x"] + 17, box["y"] + 35 + 17  # the row marker of the first row, under the header
    page.mouse.move(x, y)
    page.wait_for_timeout(300)
    page.mouse.click(x, y)
    page.locator('[data-testid="stJson"]').first.wait_for(timeout=30_000)
    page.get_by_text(re.compile(r"^Call \d+")).first.wait_for(timeout=30_000)
    page.locator(APP_IDLE).wait_for(timeout=30_000)


def page_text(browser, url: str, name: str) -> str:
    page = open_page(browser, url, width=1440, height=1000)
    try:
        page.locator('[data-testid="stMain"] h1').first.wait_for(timeout=30_000)
        page.locator(APP_IDLE).wait_for(timeout=30_000)
        drawn(page)
        if url.endswith("/requests") and page.locator('[data-testid="stDataFrame"]').count():
            open_details(page)  # the details pane of a call: numbers, missing values
        assert page.locator(EXCEPTION).count() == 0, page.locator(EXCEPTION).first.inner_text()
        screenshot(page, f"scan-{name}")
        return page.evaluate(TEXT_JS)
    finally:
        page.context.close()


@pytest.mark.parametrize("database", ["demo", "fresh"])
def test_no_page_shows_none_nan_nat_or_numpy_reprs(browser, tmp_path, database):
    make = demo_database if database == "demo" else fresh_database
    url = make(tmp_path / f"{database}.db")
    found = {}
    with serve(url) as base:
        for path in PAGES:
            text = page_text(browser, f"{base}/{path}", f"{database}-{path or 'overview'}")
            hits = sorted({m.group(0) for m in FORBIDDEN.finditer(text)})
            if hits:
                lines = [line for line in text.splitlines() if FORBIDDEN.search(line)][:5]
                found[path or "overview"] = (hits, lines)
    assert found == {}


WIDTHS_JS = """() => [...document.querySelectorAll('[data-testid="stDataFrame"]')].map(d => {
  const s = d.querySelector('.dvn-scroller'); return s ? s.scrollWidth - s.clientWidth : 0})"""


def test_tables_fit_1440_px(browser, tmp_path):
    """The Providers and Usage tables need no horizontal scrolling at 1440 px (sidebar open)."""
    with serve(demo_database(tmp_path / "demo.db")) as base:
        for path, tables in (("providers", 2), ("usage", 2)):
            page = open_page(browser, f"{base}/{path}", width=1440, height=1000)
            try:
                page.locator('[data-testid="stMain"] h1').first.wait_for(timeout=30_000)
                drawn(page)
                page.locator('[data-testid="stDataFrame"] .dvn-scroller').nth(tables - 1).wait_for(timeout=30_000)
                overflow = page.evaluate(WIDTHS_JS)
                assert len(overflow) >= tables and max(overflow) <= 2, (path, overflow)
            finally:
                page.context.close()
