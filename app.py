"""llm-metrics dashboard: `make run` (or `streamlit run app.py`) serves it on http://127.0.0.1:8501.

This file is the frame every page runs in: password gate, database check, first-run screen,
sidebar filters, navigation. The pages themselves are the short scripts in ``pages/``.
"""

import streamlit as st

from dashboard import auth, data, filters, shell

st.set_page_config(page_title="LLM metrics", page_icon="📈", layout="wide")

signed_in = auth.signed_in()
page = st.navigation(
    [
        st.Page("pages/overview.py", title="Overview", icon=":material/dashboard:", default=True),
        st.Page("pages/providers.py", title="Providers & health", icon=":material/dns:"),
        st.Page("pages/usage.py", title="Usage", icon=":material/bar_chart:"),
        st.Page("pages/costs.py", title="Costs & savings", icon=":material/payments:"),
        st.Page("pages/trends.py", title="Trends", icon=":material/trending_up:"),
        st.Page("pages/budgets.py", title="Budgets", icon=":material/savings:"),
        st.Page("pages/requests.py", title="Request log", icon=":material/list_alt:"),
    ],
    position="sidebar" if signed_in else "hidden",
)
if not signed_in:  # every URL resolves to its page, which opens once the password is typed
    auth.login_page()
    st.stop()
key, providers = shell.open_database()
if not data.has_calls() and page.url_path not in ("providers", "budgets"):  # both work before the first call
    shell.first_run()
    st.stop()
filters.sidebar(key, providers)
auth.sign_out_button()
shell.run_page(page)
