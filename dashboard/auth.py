"""An optional password in front of the dashboard.

Set ``LLM_METRICS_DASHBOARD_PASSWORD`` and the app asks for it before showing anything; the
comparison is constant-time (``hmac.compare_digest``) and a wrong guess costs a second. Guesses are
limited per client address and for the whole process, whatever the number of browser sessions
(``GuessLimiter``): after ``FREE_FAILURES`` wrong guesses from an address it must wait 2, 4, 8 ...
seconds (at most ``MAX_LOCKOUT``) between guesses, and after ``GLOBAL_FREE_FAILURES`` wrong guesses
from anywhere within ``GLOBAL_WINDOW`` every address waits likewise; every wrong guess and every
lockout is logged (logger ``dashboard.auth``). This is a speed bump for a dashboard on a trusted
network, not user management: for real logins put the dashboard behind a reverse proxy that
authenticates (see the README's "The dashboard" section).
"""

from __future__ import annotations

import hmac
import logging
import os
import threading
import time
from collections import deque

import streamlit as st

log = logging.getLogger("dashboard.auth")

PASSWORD_ENV = "LLM_METRICS_DASHBOARD_PASSWORD"
_SIGNED_IN = "_signed_in"
WRONG_PASSWORD_DELAY = 1.0  # seconds a wrong guess waits
FREE_FAILURES = 5  # wrong guesses an address may make before it has to wait
GLOBAL_FREE_FAILURES = 50  # wrong guesses from all addresses, within GLOBAL_WINDOW, before everyone waits
GLOBAL_WINDOW = 600.0  # seconds
MAX_LOCKOUT = 900.0  # seconds an address (or everyone) waits at most


class GuessLimiter:
    """Counts wrong guesses per client address and overall; says how long a client must wait."""

    def __init__(self, clock=time.monotonic) -> None:
        self.clock = clock
        self.lock = threading.Lock()
        self.failures: dict[str, int] = {}  # address -> wrong guesses since its last success
        self.locked_until: dict[str, float] = {}
        self.recent: deque[float] = deque()  # times of wrong guesses from anywhere
        self.global_locked_until = 0.0

    def wait(self, client: str) -> float:
        """Seconds ``client`` must wait before its next guess is checked (0: it may guess now)."""
        now = self.clock()
        with self.lock:
            until = max(self.locked_until.get(client, 0.0), self.global_locked_until)
        return max(0.0, until - now)

    def failed(self, client: str) -> None:
        now = self.clock()
        with self.lock:
            n = self.failures[client] = self.failures.get(client, 0) + 1
            self.recent.append(now)
            while self.recent and self.recent[0] < now - GLOBAL_WINDOW:
                self.recent.popleft()
            overall = len(self.recent)
            if n > FREE_FAILURES:
                self.locked_until[client] = now + min(2.0 ** (n - FREE_FAILURES), MAX_LOCKOUT)
            if overall > GLOBAL_FREE_FAILURES:
                self.global_locked_until = now + min(2.0 ** (overall - GLOBAL_FREE_FAILURES), MAX_LOCKOUT)
        log.warning(
            "dashboard: wrong password from %s (%d in a row from it, %d from anywhere in the last %.0f s)",
            client,
            n,
            overall,
            GLOBAL_WINDOW,
        )
        if n > FREE_FAILURES or overall > GLOBAL_FREE_FAILURES:
            log.warning("dashboard: sign-in from %s locked for %.0f s", client, self.wait(client))

    def succeeded(self, client: str) -> None:
        with self.lock:
            self.failures.pop(client, None)
            self.locked_until.pop(client, None)


#: the process's limiter: every session of the dashboard shares it
LIMITER = GuessLimiter()


def client_address() -> str:
    """The visitor's address as Streamlit sees it (``local`` for this machine)."""
    try:
        address = st.context.ip_address
    except Exception:  # no context (bare mode)
        return "local"
    return address if isinstance(address, str) and address else "local"


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
        client = client_address()
        expected = password()
        wait = LIMITER.wait(client)
        if wait > 0:  # not even checked: a locked-out guess tells nothing
            st.error(f"Too many wrong passwords. Try again in {wait:.0f} s.")
        elif expected is not None and check(given, expected):
            LIMITER.succeeded(client)
            st.session_state[_SIGNED_IN] = _fingerprint(expected)
            st.rerun()
        else:
            LIMITER.failed(client)
            time.sleep(WRONG_PASSWORD_DELAY)
            st.error("Wrong password.")
    st.caption(f"This dashboard is protected by a shared password (`{PASSWORD_ENV}`).")


def sign_out_button() -> None:
    if password() is not None and st.sidebar.button("Sign out"):
        st.session_state.pop(_SIGNED_IN, None)
        st.rerun()
