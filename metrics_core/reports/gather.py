"""The monthly report's data: every figure read from the query and policy functions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

import pandas as pd

from .. import clock, queries
from ..policy import budgets
from ..queries import Window, read_engine
from ..queries import billing as billing_queries


@dataclass
class Report:
    """Everything the monthly report shows (money as Decimal)."""

    month: date
    window: Window
    generated_at: datetime
    costs: dict
    usage: dict
    tags: pd.DataFrame
    budgets: list[dict]
    availability: pd.DataFrame
    errors: pd.DataFrame
    daily: list[dict]
    daily_by_provider: list[dict]
    billing: dict = field(default_factory=dict)  # queries.billing.reconciliation() of the month
    provider_order: tuple[str, ...] = ()  # every provider's name by id: its chart color (formatting)

    @property
    def month_label(self) -> str:
        return self.month.strftime("%Y-%m")


FIRST_MONTH = date(2000, 1, 1)
LAST_MONTH = date(9999, 11, 1)  # the report reads the day after its month: 9999-12 has none


def month_window(month: date | str) -> Window:
    """The whole UTC days of a month (``date`` in it, or ``YYYY-MM``)."""
    if isinstance(month, str):
        try:
            month = date.fromisoformat(f"{month}-01")
        except ValueError:
            raise ValueError(f"month must be YYYY-MM, got {month!r}") from None
    if not FIRST_MONTH <= month.replace(day=1) <= LAST_MONTH:
        raise ValueError(
            f"month must be YYYY-MM from {FIRST_MONTH:%Y-%m} (no call is recorded before 2000) to "
            f"{LAST_MONTH:%Y-%m}, got {month:%Y-%m}"
        )
    start, end = budgets.period_bounds("monthly", month)
    return Window(start, end)


def monthly_report(month: date | str | None = None, *, now: datetime | None = None, engine=None) -> Report:
    """Gather the report of ``month`` (default: the current UTC month)."""
    engine = read_engine(engine)
    now = now or clock.now()
    window = month_window(month or now.date())
    usage = queries.metrics(window=window, engine=engine)
    availability = queries.availability(window=window, now=now, engine=engine)
    success = {r["provider"]: (r["total_requests"], r["success_rate"]) for r in usage["by_provider"]}
    availability["requests"] = [success.get(p, (0, 0.0))[0] for p in availability["provider"]]
    availability["success_rate"] = [success.get(p, (0, None))[1] for p in availability["provider"]]
    trends = queries.trends(window=window, engine=engine)
    return Report(
        month=window.start,
        window=window,
        generated_at=clock.naive_utc(now),
        costs=queries.cost_summary(window=window, engine=engine),
        usage=usage,
        tags=queries.tag_costs(window=window, engine=engine),
        budgets=budgets.period_summary(window.start, window.end, engine),
        availability=availability,
        errors=queries.top_errors(window=window, limit=10, engine=engine),
        daily=trends["daily"],
        daily_by_provider=trends["by_provider"],
        billing=billing_queries.reconciliation(window=window, engine=engine),
        provider_order=tuple(p["name"] for p in sorted(queries.list_providers(engine), key=lambda p: p["id"])),
    )
