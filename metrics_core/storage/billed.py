"""Write billed figures: a pull's days replace what was stored for them, whole, in one transaction.

Rows are plain mappings with the columns of ``llm_billed_daily`` (``provider``, ``day`` and
``pulled_at`` come from the call). Either every row is written and the days are marked pulled, or
the transaction rolls back and the stored days are exactly what they were.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime

from sqlalchemy import delete
from sqlalchemy.engine import Engine

from .schema import BILLING_PROVIDERS, billed_daily, billed_days

KINDS = ("model", "other")
TOKEN_COLUMNS = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens")
ROW_FIELDS = ("day", "kind", "billed_model", "recorded_model", *TOKEN_COLUMNS, "requests", "cost_usd")


def replace_days(
    engine: Engine,
    *,
    provider: str,
    days: Iterable[date],
    rows: Iterable[Mapping],
    pulled_at: datetime,
) -> int:
    """Replace the stored billed figures of ``provider`` for ``days`` with ``rows``; returns rows written.

    Args:
        provider: ``openai`` or ``anthropic``.
        days: every UTC day the pull covered, whole (a day without rows is stored as billed nothing).
        rows: mappings with the keys of ``ROW_FIELDS``; each ``day`` must be one of ``days``.
        pulled_at: naive UTC time of the pull.
    """
    if provider not in BILLING_PROVIDERS:
        raise ValueError(f"provider must be one of {', '.join(BILLING_PROVIDERS)}, got {provider!r}")
    days = sorted(set(days))
    if not days:
        raise ValueError("days must name at least one pulled day")
    values = [_row(provider, row, set(days), pulled_at) for row in rows]
    with engine.connect() as conn:
        conn = conn.execution_options(immediate=True)
        with conn.begin():
            conn.execute(delete(billed_daily).where(billed_daily.c.provider == provider, billed_daily.c.day.in_(days)))
            conn.execute(delete(billed_days).where(billed_days.c.provider == provider, billed_days.c.day.in_(days)))
            conn.execute(billed_days.insert(), [{"provider": provider, "day": d, "pulled_at": pulled_at} for d in days])
            if values:
                conn.execute(billed_daily.insert(), values)
    return len(values)


def _row(provider: str, row: Mapping, days: set[date], pulled_at: datetime) -> dict:
    missing = [f for f in ROW_FIELDS if f not in row]
    if missing:
        raise ValueError(f"a billed row lacks {', '.join(missing)}; rows need {', '.join(ROW_FIELDS)}")
    if row["kind"] not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {row['kind']!r}")
    if row["day"] not in days:
        raise ValueError(f"day {row['day']} of a billed row is not one of the pulled days")
    return {"provider": provider, "pulled_at": pulled_at, **{f: row[f] for f in ROW_FIELDS}}
