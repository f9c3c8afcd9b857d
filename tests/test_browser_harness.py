"""Prove the browser harness on a throwaway two-page Streamlit app."""

import textwrap

import pytest
from browser import (
    assert_rendered,
    check_page,
    chromium,
    open_page,
    requires_chromium,
    screenshot,
    streamlit_server,
)

pytestmark = [requires_chromium, pytest.mark.sqlite_only]  # the harness itself touches no database

APP = textwrap.dedent(
    """
    import os

    import altair as alt
    import pandas as pd
    import streamlit as st


    def home():
        st.title("Harness home")
        st.caption(f"db={os.environ.get('LLM_METRICS_DB_URL')}")
        df = pd.DataFrame({"day": [1, 2, 3, 4], "tokens": [3, 1, 4, 1]})
        chart = alt.Chart(df).mark_line(point=True).encode(x="day", y="tokens")
        st.altair_chart(chart, width="stretch")


    def other():
        st.title("Second page")
        st.write("hello from page two")
        for i in range(40):
            st.write(f"line {i}")
        if st.query_params.get("boom"):
            raise ValueError("boom on purpose")


    st.navigation(
        [
            st.Page(home, title="Home", url_path="home", default=True),
            st.Page(other, title="Other", url_path="other"),
        ]
    ).run()
    """
)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Yield ``(base_url, browser)`` for the throwaway app."""
    app = tmp_path_factory.mktemp("app") / "app.py"
    app.write_text(APP)
    env = {"LLM_METRICS_DB_URL": "sqlite:///harness.db"}
    with streamlit_server(app, env=env, cwd=app.parent) as base, chromium() as b:
        yield base, b


def test_home_renders_chart(site):
    """Title, env var and an Altair chart render without exceptions."""
    base, b = site
    path = check_page(b, base, "db=sqlite:///harness.db", "harness-home", charts=1)
    assert path.stat().st_size > 10_000


def test_second_page_via_sidebar(site):
    """Clicking the st.navigation link opens page two."""
    base, b = site
    page = open_page(b, base)
    try:
        assert_rendered(page, "Harness home", charts=1)
        page.get_by_role("link", name="Other").click()
        assert_rendered(page, "hello from page two")
        assert page.url.endswith("/other")
        assert page.get_by_text("line 39").count() == 1
        screenshot(page, "harness-other")
    finally:
        page.context.close()


def test_exception_box_is_detected(site):
    """An exception in the app fails the check, with its message."""
    base, b = site
    with pytest.raises(AssertionError, match="boom on purpose"):
        check_page(b, f"{base}/other?boom=1", "Second page", "harness-boom")


def test_missing_chart_is_detected(site):
    """Asking for a chart on a page without one fails."""
    base, b = site
    page = open_page(b, f"{base}/other")
    try:
        with pytest.raises(Exception, match="Timeout"):
            page.set_default_timeout(3000)
            assert_rendered(page, "Second page", charts=1, timeout=3)
    finally:
        page.context.close()
