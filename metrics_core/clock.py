"""The one clock: every "now" and "today" in metrics_core comes from here.

Storage is naive UTC (``utc_now``); APIs take aware datetimes (``now``); UTC days (``today``) bound
windows, periods and rollups. Tests move the clock with ``time-machine``, which these functions follow.
"""

from __future__ import annotations

from datetime import UTC, date, datetime


def now() -> datetime:
    """The current instant, timezone-aware, in UTC."""
    return datetime.now(UTC)


def utc_now() -> datetime:
    """The current instant as a naive UTC datetime (how the tables store time)."""
    return datetime.now(UTC).replace(tzinfo=None)


def today() -> date:
    """The current UTC day."""
    return datetime.now(UTC).date()


def naive_utc(value: datetime | None = None) -> datetime:
    """``value`` as naive UTC (aware values are converted, naive ones taken as UTC); None -> ``utc_now()``."""
    if value is None:
        return utc_now()
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
