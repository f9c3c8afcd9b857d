"""Password guesses on the dashboard are limited per client address and overall, whatever the number
of sessions, with exponential back-off, and logged (issue 12: 32 parallel sessions reached 15-21
guesses per second, the 1 s delay being per session)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import auth

APP = str(Path(__file__).resolve().parents[1] / "app.py")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_address_waits_after_five_wrong_guesses_doubling_each_time(caplog):
    clock = Clock()
    limiter = auth.GuessLimiter(clock)
    with caplog.at_level(logging.WARNING, logger="dashboard.auth"):
        for _ in range(5):
            assert limiter.wait("10.0.0.7") == 0
            limiter.failed("10.0.0.7")
        assert limiter.wait("10.0.0.7") == 0  # five are free
        limiter.failed("10.0.0.7")
        assert limiter.wait("10.0.0.7") == 2.0
        clock.now += 2.0
        limiter.failed("10.0.0.7")
        assert limiter.wait("10.0.0.7") == 4.0
        assert limiter.wait("10.0.0.8") == 0  # another address is not held up
    assert "wrong password from 10.0.0.7 (7 in a row from it, 7 from anywhere in the last 600 s)" in caplog.text
    assert "sign-in from 10.0.0.7 locked for 4 s" in caplog.text
    limiter.succeeded("10.0.0.7")
    assert limiter.wait("10.0.0.7") == 0


def test_the_back_off_is_capped():
    clock = Clock()
    limiter = auth.GuessLimiter(clock)
    for _ in range(40):
        clock.now += auth.MAX_LOCKOUT
        limiter.failed("10.0.0.7")
    assert limiter.wait("10.0.0.7") == auth.MAX_LOCKOUT


def test_many_addresses_together_are_limited_too():
    clock = Clock()
    limiter = auth.GuessLimiter(clock)
    for i in range(auth.GLOBAL_FREE_FAILURES):
        limiter.failed(f"10.1.{i // 250}.{i % 250}")  # one guess each: no address reaches its own limit
    assert limiter.wait("10.9.9.9") == 0
    limiter.failed("10.2.0.1")
    assert limiter.wait("10.9.9.9") == 2.0  # everyone waits now
    clock.now += auth.GLOBAL_WINDOW + 3  # the old guesses age out of the window
    limiter.failed("10.2.0.2")
    assert limiter.wait("10.9.9.9") == 0


@pytest.mark.sqlite_only
def test_a_locked_out_session_cannot_even_try_the_right_password(metrics_db, monkeypatch):
    monkeypatch.setenv(auth.PASSWORD_ENV, "s3cret")
    monkeypatch.setattr(auth, "WRONG_PASSWORD_DELAY", 0)
    monkeypatch.setattr(auth, "LIMITER", auth.GuessLimiter(Clock()))  # time stands still: the 2 s lockout holds
    at = AppTest.from_file(APP, default_timeout=60).run()
    for _ in range(auth.FREE_FAILURES + 1):
        at = AppTest.from_file(APP, default_timeout=60).run()  # a new session each time
        at.text_input[0].input("guess")
        at.button[0].click().run()
        assert at.error[0].value == "Wrong password."
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.text_input[0].input("s3cret")
    at.button[0].click().run()
    assert at.error[0].value.startswith("Too many wrong passwords. Try again in ")
    assert not at.metric  # still signed out
