"""The frame around every page: opening the database, the first-run screen, page errors."""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from streamlit.runtime.scriptrunner import get_script_run_ctx

from metrics_core import demo
from metrics_core import formatting as fmt
from metrics_core.errors import DatabaseUnavailable, MetricsError, SchemaTooNew

from . import data

SNIPPET = (
    "from metrics_core import record_request\n"
    'record_request(provider_name="ollama", model="llama3.2", status="success", prompt_tokens=120, '
    "completion_tokens=80, duration_seconds=0.9)\n"
)
DEMO_DAYS, DEMO_PER_DAY = 90, 300


def _url() -> str:
    try:
        return make_url(data.db_url()).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is shown as the error itself
        return data.db_url()


def database_error(exc: Exception) -> None:
    """Explain why the database cannot be used, then stop the run (no traceback)."""
    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]  # not SQLAlchemy's "Background on ..." line
    if isinstance(exc, SchemaTooNew):
        st.error(f"**The metrics database is newer than this dashboard.** {fmt.md(reason)}", icon=":material/upgrade:")
        st.markdown(
            "Upgrade llm-metrics (`git pull && make run`) so it knows the newer schema, or point "
            "`LLM_METRICS_DB_URL` at another database."
        )
    else:
        st.error(f"**The metrics database cannot be opened.** {fmt.md(reason)}", icon=":material/database:")
        st.markdown(
            f"The dashboard reads `{_url()}` (from `LLM_METRICS_DB_URL`). Check that the path or server "
            "exists and is readable, then reload. `llm-metrics migrate` creates a new database."
        )
    st.stop()


def open_database() -> tuple[tuple, list[dict]]:
    """(cache key, providers), or a clear message and a stopped run."""
    try:
        return data.version(), data.providers()
    except (MetricsError, SQLAlchemyError, OSError) as exc:
        database_error(exc if isinstance(exc, MetricsError) else DatabaseUnavailable(str(exc).splitlines()[0]))
        raise  # not reached: database_error stops the run


def first_run() -> None:
    """The empty-database screen: how to record a call, and a button that loads demo data."""
    st.title("Welcome to LLM metrics")
    st.markdown(
        "No calls are recorded in this database yet. Record one from your application: two lines, "
        "and the call shows up here with its cost, latency and provider health."
    )
    st.code(SNIPPET, language="python", wrap_lines=True)
    st.markdown(
        "Or instrument an SDK client once and every call it makes is recorded: "
        "`from metrics_core.integrations import openai as m_openai` then "
        "`client = m_openai.instrument(OpenAI())` (Anthropic and Ollama alike)."
    )
    st.markdown(f"Just looking around? Load {DEMO_DAYS} days of realistic demo traffic into `{_url()}`.")
    if st.button("Load demo data", type="primary", icon=":material/play_arrow:"):
        with st.spinner("Writing demo calls…"):
            n = demo.load(days=DEMO_DAYS, per_day=DEMO_PER_DAY)
            demo.add_budgets()
        data.invalidate()
        st.toast(f"Loaded {n:,} demo calls.")
        st.rerun()
    st.caption("The same from a shell: `llm-metrics demo --days 90`.")


_IN_FRAME = "_page_in_frame"
PAGES_DIR = Path(__file__).resolve().parents[1] / "pages"


def run_page(page) -> None:
    """Run the selected page inside the frame; a database failure while it draws becomes a message."""
    st.session_state[_IN_FRAME] = True
    try:
        page.run()
    except (MetricsError, SQLAlchemyError) as exc:
        database_error(exc if isinstance(exc, MetricsError) else DatabaseUnavailable(str(exc).splitlines()[0]))
    finally:
        st.session_state[_IN_FRAME] = False


def require_frame() -> None:
    """Run ``app.py`` around a page that Streamlit started on its own.

    Streamlit runs ``pages/<name>.py`` by itself (the old ``pages/`` folder convention) while no
    session of the server process has called ``st.navigation`` yet, e.g. when a fresh server's first
    request is a page's URL; ``AppTest`` does so on every run. That would skip the password and the
    database checks and the sidebar, so the page hands over to ``app.py`` in the same run (whose
    ``st.navigation`` picks this very page, by its URL path) and stops once that has drawn it.
    A page run as an app of its own (``streamlit run pages/x.py``, ``AppTest.from_file`` of the page)
    is left alone.
    """
    if st.session_state.get(_IN_FRAME):
        return
    app = PAGES_DIR.parent / "app.py"
    ctx = get_script_run_ctx()
    if ctx is None or Path(ctx.main_script_path).resolve() != app:
        return  # the page is the app itself (`streamlit run pages/x.py`, AppTest of one page): no frame to add
    exec(compile(app.read_text(encoding="utf-8"), str(app), "exec"), {"__name__": "__main__", "__file__": str(app)})
    st.stop()
