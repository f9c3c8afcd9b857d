"""Bad input is a programmer error: ValueError naming the field and what is allowed, nothing written."""

import math
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metrics_core import queries, record_request

GOOD = dict(
    provider_name="claude",
    model="claude-sonnet-4-5",
    status="success",
    prompt_tokens=10,
    completion_tokens=5,
    duration_seconds=1.0,
)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("prompt_tokens", -1, "prompt_tokens must be a whole number >= 0"),
        ("completion_tokens", 1.5, "completion_tokens must be a whole number >= 0"),
        ("prompt_tokens", "12", "prompt_tokens must be a whole number >= 0"),
        ("prompt_tokens", True, "prompt_tokens must be a whole number >= 0"),
        ("cache_read_tokens", -3, "cache_read_tokens must be a whole number >= 0"),
        ("reasoning_tokens", 2.0, "reasoning_tokens must be a whole number >= 0"),
        ("duration_seconds", math.nan, "duration_seconds must be a finite number of seconds >= 0"),
        ("duration_seconds", math.inf, "duration_seconds must be a finite number of seconds >= 0"),
        ("duration_seconds", -0.1, "duration_seconds must be a finite number of seconds >= 0"),
        ("duration_seconds", "fast", "duration_seconds must be a number of seconds >= 0"),
        ("time_to_first_token_seconds", -1, "time_to_first_token_seconds must be a finite number"),
        ("status", "ok", "status must be one of success, failed, timeout, rate_limited, cancelled"),
        ("status", None, "status must be one of"),
        ("provider_name", "", "provider_name must be a non-empty string"),
        ("provider_name", "   ", "provider_name must be a non-empty string"),
        ("provider_name", None, "provider_name must be a non-empty string"),
        ("model", "", "model must be a non-empty string"),
        ("model", "m" * 201, "model must be at most 200 characters"),
        ("tags", {"project": 3}, "tags['project'] must be a string"),
        ("tags", ["project"], "tags must be a dict of str to str"),
        ("timestamp", datetime(2026, 1, 1), "timestamp must be a timezone-aware datetime"),
        ("endpoint", 42, "endpoint must be a string"),
    ],
)
def test_invalid_argument_raises_and_writes_nothing(field, value, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("[", r"\[")):
        record_request(**{**GOOD, field: value})
    assert queries.request_count() == 0


def test_cache_tokens_cannot_exceed_prompt_tokens():
    with pytest.raises(ValueError, match="cache_read_tokens \\+ cache_write_tokens must not exceed prompt_tokens"):
        record_request(**{**GOOD, "prompt_tokens": 100, "cache_read_tokens": 80, "cache_write_tokens": 30})
    assert queries.request_count() == 0


def test_reasoning_tokens_cannot_exceed_completion_tokens():
    with pytest.raises(ValueError, match="reasoning_tokens must not exceed completion_tokens"):
        record_request(**{**GOOD, "completion_tokens": 5, "reasoning_tokens": 6})


def test_numeric_types_from_numpy_and_decimal_are_accepted():
    import numpy as np

    record_request(**{**GOOD, "prompt_tokens": np.int64(7), "duration_seconds": Decimal("0.25")})
    row = queries.request_log().iloc[0]
    assert (row["prompt_tokens"], row["duration_ms"]) == (7, 250.0)


@settings(max_examples=200, deadline=None)
@given(tokens=st.one_of(st.integers(max_value=-1), st.floats(allow_nan=True), st.text(), st.booleans()))
def test_any_non_count_is_rejected(tokens):  # None is allowed: usage not known (tests/test_billing_dimensions.py)
    with pytest.raises(ValueError, match="prompt_tokens"):
        record_request(**{**GOOD, "prompt_tokens": tokens})


@settings(max_examples=200, deadline=None)
@given(seconds=st.one_of(st.floats(max_value=-1e-9), st.just(math.nan), st.just(math.inf), st.just(-math.inf)))
def test_any_bad_duration_is_rejected(seconds):
    with pytest.raises(ValueError, match="duration_seconds"):
        record_request(**{**GOOD, "duration_seconds": seconds})


def test_timestamp_that_overflows_in_utc_is_rejected():
    from datetime import timezone

    with pytest.raises(ValueError, match="timestamp must be representable in UTC"):
        record_request(**{**GOOD, "timestamp": datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5)))})
