"""``request_count`` reads the rollups when the filters allow it, and agrees with the raw rows."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event

from metrics_core import queries, record_request, storage

DAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=2)
CALLS = [  # (hours after DAY, provider, status, tags)
    (1, "ollama", "success", {"project": "a"}),
    (2, "ollama", "timeout", {"project": "a"}),
    (3, "claude", "success", {"project": "b"}),
    (25, "claude", "failed", {"project": "a"}),
    (26, "ollama", "success", {}),
    (27, "ollama", "rate_limited", {"project": "a", "user": "u1"}),
]


@pytest.fixture
def calls(engine):
    for hours, provider, status, tags in CALLS:
        record_request(
            provider_name=provider, model="m", status=status, tags=tags or None, timestamp=DAY + timedelta(hours=hours)
        )
    queries.request_count()  # flushes
    return engine


def raw_statements(engine) -> list[str]:
    seen: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    return seen


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, 6),
        ({"start": DAY, "end": DAY + timedelta(days=1)}, 3),
        ({"providers": ["ollama"]}, 4),
        ({"statuses": ["success"]}, 3),
        ({"statuses": ["failed", "timeout", "rate_limited", "cancelled"]}, 3),
        ({"tag": ("project", "a")}, 4),
        ({"tag": ("project", "a"), "statuses": ["success"], "providers": ["ollama"]}, 1),
        ({"start": DAY + timedelta(days=1), "end": DAY + timedelta(days=2), "tag": ("user", "u1")}, 1),
    ],
)
def test_counts_from_the_rollups(calls, filters, expected):
    seen = raw_statements(storage.get_engine())
    assert queries.request_count(**filters) == expected
    assert not any("llm_requests" in s for s in seen), seen  # the raw table was not read


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"statuses": ["timeout"]}, 1),  # the rollups do not split failures by status
        ({"start": DAY + timedelta(hours=2)}, 5),  # a partial day
        ({"error_contains": "x"}, 0),
    ],
)
def test_other_filters_count_the_raw_rows(calls, filters, expected):
    seen = raw_statements(storage.get_engine())
    assert queries.request_count(**filters) == expected
    assert any("llm_requests" in s for s in seen)
