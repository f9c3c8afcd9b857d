"""The frame around every page: opening the database, the first-run screen, page errors."""

from __future__ import annotations

import inspect
from pathlib import Path

import streamlit as st
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from metrics_core import demo
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
    if isinstance(exc, SchemaTooNew):
        st.error(f"**The metrics database is newer than this dashboard.** {exc}", icon=":material/upgrade:")
        st.markdown(
            "Upgrade llm-metrics (`git pull && make run`) so it knows the newer schema, or point "
            "`LLM_METRICS_DB_URL` at another database."
        )
    else:
        st.error(f"**The metrics database cannot be opened.** {exc}", icon=":material/database:")
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
    st.code(SNIPPET, language="python")
    st.markdown(
        "Or instrument an SDK client once and every call is recorded: "
        "`client = metrics_core.integrations.openai.instrument(OpenAI())` (Anthropic and Ollama alike)."
    )
    st.markdown(f"Just looking around? Load {DEMO_DAYS} days of realistic demo traffic into `{_url()}`.")
    if st.button("Load demo data", type="primary", icon=":material/play_arrow:"):
        with st.spinner("Writing demo calls…"):
            n = demo.load(days=DEMO_DAYS, per_day=DEMO_PER_DAY)
        data.invalidate()
        st.toast(f"Loaded {n:,} demo calls.")
        st.rerun()
    st.caption("The same from a shell: `llm-metrics demo --days 90`.")


_IN_FRAME = "_page_in_frame"
_WANTED_PAGE = "_wanted_page"
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
    """Send a page that runs without ``app.py`` around it back through ``app.py``.

    Streamlit runs ``pages/<name>.py`` on its own (the old ``pages/`` folder convention) when the
    first request a fresh server process gets is a page's URL, before any session has called
    ``st.navigation``. Such a run would skip the password and the database checks, so the page
    stops and the app restarts through ``app.py``, which then opens the page that was asked for.
    """
    if st.session_state.get(_IN_FRAME):
        return
    for frame in inspect.stack(context=0):  # the page script that called us
        path = Path(frame.filename)
        if path.parent == PAGES_DIR and path.suffix == ".py":
            st.session_state[_WANTED_PAGE] = f"pages/{path.name}"
            break
    st.switch_page(str(PAGES_DIR.parent / "app.py"))


def resume_wanted_page(page) -> None:
    """After ``require_frame()`` sent a visitor through ``app.py``, open the page they asked for."""
    wanted = st.session_state.pop(_WANTED_PAGE, None)
    if wanted and not wanted.endswith(f"/{page.url_path}.py"):
        st.switch_page(wanted)
