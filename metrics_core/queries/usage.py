"""Usage figures: requests, success rate, tokens and latency over a window, and the daily series
behind the charts. Totals come from the daily rollups, never from raw rows."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
from sqlalchemy import func, select

from .. import clock, storage
from ..money import ZERO, decimal_or_zero, group_cost
from .common import Window, as_date, measure_sums, read_engine, rollup_filter, window_of
from .latency import histogram_levels, level_percentiles


def _usage_figures(row, pct: dict[float, float | None]) -> dict:
    total = int(row.requests or 0)
    ok = int(row.successful_requests or 0)
    count = int(row.duration_count or 0)
    ttft_count = int(row.ttft_count or 0)
    return {
        "total_requests": total,
        "successful_requests": ok,
        "failed_requests": int(row.failed_requests or 0),
        "success_rate": round(ok / total * 100, 2) if total else 0.0,
        "total_prompt_tokens": int(row.prompt_tokens or 0),
        "total_completion_tokens": int(row.completion_tokens or 0),
        "total_tokens": int((row.prompt_tokens or 0) + (row.completion_tokens or 0)),
        "cache_read_tokens": int(row.cache_read_tokens or 0),
        "cache_write_tokens": int(row.cache_write_tokens or 0),
        "reasoning_tokens": int(row.reasoning_tokens or 0),
        "cache_read_share": (
            round(int(row.cache_read_tokens or 0) / int(row.prompt_tokens) * 100, 2) if row.prompt_tokens else None
        ),
        "avg_response_time_ms": round(float(row.duration_sum_ms) / count, 1) if count else 0.0,
        "p50_response_time_ms": round(pct.get(50.0) or 0.0, 1),
        "p95_response_time_ms": round(pct.get(95.0) or 0.0, 1),
        "p99_response_time_ms": round(pct.get(99.0) or 0.0, 1),
        "avg_ttft_ms": round(float(row.ttft_sum_ms) / ttft_count, 1) if ttft_count else None,
    }


def metrics(
    days: int | None = None,
    *,
    window: Window | None = None,
    providers: list[str] | None = None,
    models: list[str] | None = None,
    engine=None,
) -> dict:
    """Usage over a window: requests, success rate, tokens, latency (avg and p50/p95/p99).

    Percentiles come from the latency histogram, within about 1% of the exact value. Every call
    with a duration counts, failed ones included. ``by_provider`` and ``by_model`` break it down.
    """
    window = window_of(days, window, 7)
    engine = read_engine(engine)
    t, p = storage.costs_daily, storage.providers
    with engine.connect() as conn:
        where = rollup_filter(t, window, providers, models, conn)
        total = conn.execute(select(*measure_sums(t)).where(where)).one()
        levels = histogram_levels(conn, window, providers, models)  # one read for all three levels
        pct = level_percentiles(levels, "total").get((), {})
        result = _usage_figures(total, pct)
        result.update(window_start=window.start.isoformat(), window_end=window.end.isoformat(), days=window.days)
        joined = t.join(p, p.c.id == t.c.provider_id)
        by_p = conn.execute(
            select(p.c.name.label("provider"), *measure_sums(t))
            .select_from(joined)
            .where(where)
            .group_by(p.c.name)
            .order_by(func.sum(t.c.requests).desc(), p.c.name)
        ).all()
        pct_p = level_percentiles(levels, "provider")
        result["by_provider"] = [
            {"provider": r.provider, **_usage_figures(r, pct_p.get((r.provider,), {}))} for r in by_p
        ]
        by_m = conn.execute(
            select(p.c.name.label("provider"), t.c.model, *measure_sums(t))
            .select_from(joined)
            .where(where)
            .group_by(p.c.name, t.c.model)
            .order_by(func.sum(t.c.requests).desc(), p.c.name, t.c.model)
        ).all()
        pct_m = level_percentiles(levels, "model")
        result["by_model"] = [
            {"provider": r.provider, "model": r.model, **_usage_figures(r, pct_m.get((r.provider, r.model), {}))}
            for r in by_m
        ]
    return result


_TREND_KEYS = ("requests", "successful_requests", "failed_requests", "prompt_tokens", "completion_tokens")


def _trend_row(row) -> dict:
    out = {k: int(getattr(row, k) or 0) for k in _TREND_KEYS}
    out["cost_usd"] = group_cost(row.cost_usd, row.requests, row.unpriced_requests)
    out["hypothetical_cost_usd"] = decimal_or_zero(row.reference_cost_usd)
    out["unpriced_requests"] = int(row.unpriced_requests or 0)
    return out


def trends(
    days: int | None = None,
    *,
    window: Window | None = None,
    providers: list[str] | None = None,
    models: list[str] | None = None,
    engine=None,
) -> dict:
    """``daily``: one row per UTC day of the window (zeros on quiet days); ``by_provider``: per
    provider and day with traffic."""
    window = window_of(days, window, 30)
    engine = read_engine(engine)
    t, p = storage.costs_daily, storage.providers
    with engine.connect() as conn:
        where = rollup_filter(t, window, providers, models, conn)
        per_day = {
            as_date(r.day): _trend_row(r)
            for r in conn.execute(select(t.c.day, *measure_sums(t)).where(where).group_by(t.c.day))
        }
        by_provider = conn.execute(
            select(t.c.day, p.c.name.label("provider"), *measure_sums(t))
            .select_from(t.join(p, p.c.id == t.c.provider_id))
            .where(where)
            .group_by(t.c.day, p.c.name)
            .order_by(t.c.day, p.c.name)
        ).all()
    empty = {k: 0 for k in _TREND_KEYS} | {"cost_usd": ZERO, "hypothetical_cost_usd": ZERO, "unpriced_requests": 0}
    daily = [{"date": d.isoformat(), **per_day.get(d, empty)} for d in window.dates()]
    return {
        "daily": daily,
        "by_provider": [
            {"date": as_date(r.day).isoformat(), "provider": r.provider, **_trend_row(r)} for r in by_provider
        ],
    }


def daily_frame(
    days: int | None = None, *, window: Window | None = None, providers=None, models=None, engine=None
) -> pd.DataFrame:
    """Per day, provider and model: every rollup measure (money as float), with ``date`` as datetime."""
    window = window_of(days, window, 30)
    engine = read_engine(engine)
    t, p = storage.costs_daily, storage.providers
    with engine.connect() as conn:
        where = rollup_filter(t, window, providers, models, conn)
        rows = conn.execute(
            select(
                t.c.day,
                p.c.name.label("provider"),
                p.c.provider_type,
                t.c.model,
                *[t.c[m] for m in storage.DAILY_MEASURES],
            )
            .select_from(t.join(p, p.c.id == t.c.provider_id))
            .where(where)
            .order_by(t.c.day, p.c.name, t.c.model)
        ).all()
    frame = pd.DataFrame(rows, columns=["date", "provider", "provider_type", "model", *storage.DAILY_MEASURES])
    frame["date"] = pd.to_datetime(frame["date"].map(as_date) if len(frame) else frame["date"])
    for m in ("cost_usd", "reference_cost_usd", "priced_reference_cost_usd"):
        frame[m] = frame[m].astype(float)
    return frame


def usage_frame(
    days: int | None = None,
    *,
    window: Window | None = None,
    by: str = "model",
    providers=None,
    models=None,
    engine=None,
) -> pd.DataFrame:
    """``metrics()``'s ``by_provider`` (``by='provider'``) or ``by_model`` rows as a DataFrame."""
    result = metrics(days, window=window, providers=providers, models=models, engine=engine)
    return pd.DataFrame(result["by_provider" if by == "provider" else "by_model"])


_SERIES = (
    "requests",
    "successful_requests",
    "failed_requests",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "reference_cost_usd",
    "priced_reference_cost_usd",
    "unpriced_requests",
)


def daily_series(
    days: int | None = None,
    *,
    window: Window | None = None,
    by_provider: bool = False,
    moving_average: int = 7,
    providers=None,
    models=None,
    engine=None,
) -> pd.DataFrame:
    """Daily totals for charts: one row per UTC day of the window (per provider with ``by_provider``),
    quiet days as zeros.

    Columns: ``date`` (datetime), [``provider``], ``requests``, ``successful_requests``,
    ``failed_requests``, ``prompt_tokens``, ``completion_tokens``, ``tokens``, ``cost_usd``,
    ``reference_cost_usd``, ``savings_usd`` (priced calls), ``unpriced_requests``, ``success_rate`` and
    ``savings_percentage`` (NaN on a day without calls / priced reference cost), and for
    ``requests``, ``tokens`` and ``cost_usd`` a trailing ``moving_average``-day mean (``*_ma``)
    that reaches back before the window, so the first days of the window are averaged correctly
    (days before the first recorded call are left out of it). ``running``: True on today, which is
    still running; it is left out of the moving averages (NaN there), so their right edge does not
    dip because the day is young. Money as float.
    """
    if not isinstance(moving_average, int) or moving_average < 1:
        raise ValueError(f"moving_average must be a whole number >= 1, got {moving_average!r}")
    window = window_of(days, window, 30)
    engine = read_engine(engine)
    wide = Window(window.start - timedelta(days=moving_average - 1), window.end)
    t, p = storage.costs_daily, storage.providers
    key = [p.c.name.label("provider")] if by_provider else []
    sums = [func.coalesce(func.sum(t.c[m]), 0).label(m) for m in _SERIES]
    with engine.connect() as conn:
        rows = conn.execute(
            select(t.c.day, *key, *sums)
            .select_from(t.join(p, p.c.id == t.c.provider_id))
            .where(rollup_filter(t, wide, providers, models, conn))
            .group_by(t.c.day, *key)
        ).all()
    columns = ["date", *(["provider"] if by_provider else []), *_SERIES]
    frame = pd.DataFrame([(as_date(r.day), *r[1:]) for r in rows], columns=columns)
    for m in _SERIES:
        frame[m] = frame[m].astype(float) if m.endswith("_usd") else frame[m].astype("int64")
    days_index = pd.Index(wide.dates(), name="date")
    if by_provider:
        names = sorted(frame["provider"].unique())
        full = pd.MultiIndex.from_product([days_index, names], names=["date", "provider"])
        frame = frame.set_index(["date", "provider"]).reindex(full, fill_value=0)
    else:
        frame = frame.set_index("date").reindex(days_index, fill_value=0)
    frame = frame.reset_index()
    frame["tokens"] = frame["prompt_tokens"] + frame["completion_tokens"]
    frame["savings_usd"] = frame["priced_reference_cost_usd"] - frame["cost_usd"]
    # Days before the first recorded call are "no data", not zeros: the average skips them.
    active = frame.loc[frame["requests"] > 0, "date"]
    before_data = frame["date"] < (active.min() if len(active) else window.end + timedelta(days=1))
    frame["running"] = frame["date"] >= clock.today()
    for m in ("requests", "tokens", "cost_usd"):
        values = frame[m].astype(float).mask(before_data | frame["running"])
        if by_provider:
            rolled = values.groupby(frame["provider"], sort=False).rolling(moving_average, min_periods=1).mean()
            frame[f"{m}_ma"] = rolled.reset_index(level=0, drop=True)
        else:
            frame[f"{m}_ma"] = values.rolling(moving_average, min_periods=1).mean()
        frame[f"{m}_ma"] = frame[f"{m}_ma"].mask(frame["running"])
    calls = frame["requests"].where(frame["requests"] > 0)
    frame["success_rate"] = frame["successful_requests"] / calls * 100
    priced_ref = frame["priced_reference_cost_usd"].where(frame["priced_reference_cost_usd"] > 0)
    frame["savings_percentage"] = frame["savings_usd"] / priced_ref * 100
    frame = frame[frame["date"] >= window.start].drop(columns="priced_reference_cost_usd")
    frame["date"] = pd.to_datetime(frame["date"])
    return frame.reset_index(drop=True)
