"""An optional password in front of the dashboard.

Set ``LLM_METRICS_DASHBOARD_PASSWORD`` and the app asks for it before showing anything; the
comparison is constant-time (``hmac.compare_digest``) and a wrong guess costs a second. This is a
speed bump for a dashboard on a trusted network, not user management: for real logins put the
dashboard behind a reverse proxy that authenticates (see the README's "The dashboard" section).
"""

from __future__ import annotations

import hmac
import os
import time

import streamlit as st

PASSWORD_ENV = "LLM_METRICS_DASHBOARD_PASSWORD"
_SIGNED_IN = "_signed_in"
WRONG_PASSWORD_DELAY = 1.0  # seconds a wrong guess waits


def password() -> str | None:
    return os.environ.get(PASSWORD_ENV) or None


def check(given: str, expected: str) -> bool:
    """Constant-time comparison of a typed password with the configured one."""
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def signed_in() -> bool:
    """True when no password is configured, or this session typed it."""
    expected = password()
    return expected is None or st.session_state.get(_SIGNED_IN) == _fingerprint(expected)


def _fingerprint(expected: str) -> str:
    # remember which password was typed, so changing it signs every session out
    return hmac.new(b"llm-metrics-dashboard", expected.encode("utf-8"), "sha256").hexdigest()


def login_page() -> None:
    """The only page an anonymous visitor sees."""
    st.title("LLM metrics")
    with st.form("sign_in"):
        given = st.text_input("Password", type="password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        expected = password()
        if expected is not None and check(given, expected):
            st.session_state[_SIGNED_IN] = _fingerprint(expected)
            st.rerun()
        time.sleep(WRONG_PASSWORD_DELAY)
        st.error("Wrong password.")
    st.caption(f"This dashboard is protected by a shared password (`{PASSWORD_ENV}`).")


def sign_out_button() -> None:
    if password() is not None and st.sidebar.button("Sign out"):
        st.session_state.pop(_SIGNED_IN, None)
        st.rerun()
