"""What every query shares: the window of UTC days, the read engine, rollup filters and sums.

A window is a range of whole UTC days: ``days=7`` means today and the six days before it. Reads
never write; ``read_engine`` waits briefly for this process's pending records first
(``recording.flush_for_read``), so a read sees every record made before it while the database
takes writes, and answers at once from what is stored while it does not (``unwritten_records``
says how many records an answer may miss).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import and_, func, select

from .. import clock, storage
from ..recording import flush_for_read, stats


@dataclass(frozen=True)
class Window:
    """A range of whole UTC days, both ends included."""

    start: date
    end: date

    @classmethod
    def last(cls, days: int, today: date | None = None) -> Window:
        if not isinstance(days, int) or isinstance(days, bool) or days < 1:
            raise ValueError(f"days must be a whole number >= 1, got {days!r}")
        today = today or clock.today()
        return cls(today - timedelta(days=days - 1), today)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Window:
        """The window of the same length just before this one (for deltas)."""
        return Window(self.start - timedelta(days=self.days), self.start - timedelta(days=1))

    def dates(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range(self.days)]


@dataclass(frozen=True)
class Comparison:
    """What a window's deltas compare, like with like (``comparison``).

    ``current``: the window's complete days (None when it has none yet); ``previous``: as many
    days just before them; ``running_day``: the day left out because it is still running (or None).
    """

    current: Window | None
    previous: Window | None
    running_day: date | None

    def describe(self) -> str:
        """For a caption: which days the deltas compare."""
        if self.current is None:
            return "No delta yet: the window is only today, which is still running."
        n = self.current.days
        days = "1 complete day" if n == 1 else f"{n} complete days"
        text = f"Deltas compare the window's {days} with the {'day' if n == 1 else f'{n} days'} before"
        return text + ("; today is left out of them until it is over." if self.running_day else ".")


def comparison(window: Window, today: date | None = None) -> Comparison:
    """The windows behind a window's deltas: a running day (today) is never compared with whole days.

    The window's complete days are compared with as many days just before them; today, while it
    runs, is left out of both sides (the rollups are daily, so the same hours of an earlier day
    cannot be read from them). A window wholly in the past compares with the window before it.
    """
    today = today or clock.today()
    if window.end < today:
        return Comparison(window, window.previous(), None)
    if window.start > today:  # a window that has not begun
        return Comparison(None, None, None)
    running = today
    if window.start == today:
        return Comparison(None, None, running)
    current = Window(window.start, today - timedelta(days=1))
    return Comparison(current, current.previous(), running)


def window_of(days: int | None, window: Window | None, default: int) -> Window:
    """``window`` if given, else the last ``days`` (default ``default``) UTC days."""
    if window is not None:
        return window
    return Window.last(default if days is None else days)


def read_engine(engine=None):
    """The engine to read from (default: the configured database), after a bounded flush of this
    process's records (never a wait for a write that cannot happen)."""
    engine = engine if engine is not None else storage.get_engine()  # first: the writer may be making it
    flush_for_read()
    return engine


def unwritten_records() -> int:
    """Records this process made that are still queued, so missing from what reads see now."""
    return stats()["queued"]


def rollup_filter(table, window: Window, providers: list[str] | None, models: list[str] | None, conn):
    """The WHERE clause of a rollup table for a window, providers (names) and models."""
    conds = [table.c.day >= window.start, table.c.day <= window.end]
    if providers:
        ids = select(storage.providers.c.id).where(storage.providers.c.name.in_(providers))
        conds.append(table.c.provider_id.in_(ids))
    if models:
        conds.append(table.c.model.in_(models))
    return and_(*conds)


def measure_sums(table):
    """SUM(...) of every rollup measure, labelled with its name (0 when no row matches)."""
    return [func.coalesce(func.sum(table.c[m]), 0).label(m) for m in storage.DAILY_MEASURES]


def floats(d: dict) -> dict:
    """A figures dict with its Decimal money as float (None stays None), for DataFrames."""
    return {k: float(v) if isinstance(v, Decimal) else v for k, v in d.items()}


def as_date(value) -> date:
    """A database day (date, datetime or ISO text) as a date."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def as_naive(value) -> datetime:
    """A date (midnight) or datetime as naive UTC."""
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
