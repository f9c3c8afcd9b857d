"""Cached reads for the pages: ``st.cache_data`` over ``metrics_core`` queries.

Every cached entry is keyed on the database URL, ``queries.data_version()`` (a fingerprint that
changes whenever recorded calls, rollups, circuits or provider settings change) and the filter
values, so a page never shows figures older than the data behind them, and switching pages or
moving a widget back costs nothing. Writes made from the dashboard call ``invalidate()`` as well.
"""

from __future__ import annotations

import io
from typing import Any

import pandas as pd
import streamlit as st

from metrics_core import formatting as fmt
from metrics_core import queries
from metrics_core.config import settings
from metrics_core.queries import Window

CACHE_TTL_SECONDS = 600
EXPORT_LIMIT = 100_000  # rows in one CSV download of the request log
CSV_PAGE_ROWS = 10_000


def db_url() -> str:
    return settings().db_url


def version() -> tuple:
    """The database fingerprint for cache keys (a few small indexed reads, uncached on purpose)."""
    return (db_url(), queries.data_version())


def invalidate() -> None:
    """Forget every cached figure (after this app wrote to the database)."""
    st.cache_data.clear()


@st.cache_data(ttl=CACHE_TTL_SECONDS, max_entries=512, show_spinner=False)
def _cached(_query, name: str, key: tuple, kwargs: tuple) -> Any:
    # ``_query`` is not hashed (leading underscore); ``name`` stands for it in the cache key
    args = dict(kwargs)
    if "window" in args:
        args["window"] = Window(*args["window"])
    return _query(**args)


def _call(query, key: tuple, kwargs: tuple) -> Any:
    """``query(**kwargs)``, cached on its name, the page's data key and the arguments."""
    return _cached(query, f"{query.__module__}.{query.__name__}", key, kwargs)


def _q(query, f, *, window: Window | None = None, models: bool = True, **kwargs) -> Any:
    """Run a query function for the filters ``f`` (or an explicit window), cached."""
    window = window or f.window
    args = {"window": (window.start, window.end), "providers": f.providers or None, **kwargs}
    if models:
        args["models"] = f.models or None
    return _call(query, f.key, tuple(sorted(args.items())))


def metrics(f, *, previous: bool = False) -> dict:
    return _q(queries.metrics, f, window=f.window.previous() if previous else None)


def cost_summary(f, *, previous: bool = False) -> dict:
    return _q(queries.cost_summary, f, window=f.window.previous() if previous else None)


def compared_metrics(f) -> tuple[dict, dict] | None:
    """``metrics`` over the compared complete days and over the days before (``f.comparison``)."""
    c = f.comparison
    return (_q(queries.metrics, f, window=c.current), _q(queries.metrics, f, window=c.previous)) if c.current else None


def compared_costs(f) -> tuple[dict, dict] | None:
    """``cost_summary`` over the compared complete days and over the days before."""
    c = f.comparison
    if c.current is None:
        return None
    return _q(queries.cost_summary, f, window=c.current), _q(queries.cost_summary, f, window=c.previous)


def tag_costs(f, tag_key: str | None = None) -> pd.DataFrame:
    return _q(queries.tag_costs, f, tag_key=tag_key)


def latency(f, *, by: str = "provider", kind: str = "duration") -> pd.DataFrame:
    return _q(queries.latency_percentiles, f, by=by, kind=kind)


def latency_breakdown(f, *, kind: str = "duration") -> dict[str, pd.DataFrame]:
    return _q(queries.latency_breakdown, f, kind=kind)


def daily(f, *, by_provider: bool = False, moving_average: int = 7) -> pd.DataFrame:
    return _q(queries.daily_series, f, by_provider=by_provider, moving_average=moving_average)


def availability(f) -> pd.DataFrame:
    """Per provider and day (``queries.daily_availability``)."""
    return _q(queries.daily_availability, f, models=False)


def availability_summary(f) -> pd.DataFrame:
    """Per provider over the whole window (``queries.availability``)."""
    return _q(queries.availability, f, models=False)


def model_names(f, window: Window, providers: tuple[str, ...]) -> list[str]:
    args = {"window": (window.start, window.end), "providers": providers or None}
    frame = _call(queries.model_names, f.key if f else version(), tuple(sorted(args.items())))
    return sorted(set(frame["model"]))


def tag_values(f, tag_key: str | None = None) -> pd.DataFrame:
    args = {"window": (f.window.start, f.window.end), "tag_key": tag_key}
    return _call(queries.tag_values, f.key, tuple(sorted(args.items())))


def circuit_events(f) -> pd.DataFrame:
    """Circuit transitions inside the window, oldest first."""
    events = _call(queries.circuit_events, f.key, (("providers", f.providers or None), ("since", f.start_datetime)))
    return events[events["at"] < f.end_datetime].reset_index(drop=True)


def log_filters(f, *, statuses=(), tag: tuple[str, str] | None = None, error_contains: str = "") -> dict:
    """Keyword arguments of ``queries.request_log`` / ``request_count`` for the filters."""
    return {
        "start": f.start_datetime,
        "end": f.end_datetime,
        "providers": f.providers or None,
        "models": f.models or None,
        "statuses": tuple(statuses) or None,
        "tag": tuple(tag) if tag else None,
        "error_contains": error_contains.strip() or None,
    }


def request_count(f, **log_kwargs) -> int:
    return _call(queries.request_count, f.key, tuple(sorted(log_kwargs.items())))


def request_log(f, *, limit: int, offset: int, **log_kwargs) -> pd.DataFrame:
    args = {**log_kwargs, "limit": limit, "offset": offset}
    return _call(queries.request_log, f.key, tuple(sorted(args.items())))


def providers() -> list[dict]:
    """Every provider with its circuit (uncached: cheap, and a circuit's cooldown ends by the clock)."""
    return queries.list_providers()


def health() -> dict:
    """``metrics_core.queries.health_summary()`` (uncached, for the same reason)."""
    return queries.health_summary()


def has_calls() -> bool:
    return queries.has_calls()


def log_csv(log_kwargs: dict, limit: int = EXPORT_LIMIT) -> bytes:
    """The request log's filtered rows as CSV (newest first, at most ``limit`` rows), for download.

    Read ``CSV_PAGE_ROWS`` rows at a time, so memory stays flat however many rows match."""
    out = io.StringIO()
    for offset in range(0, limit, CSV_PAGE_ROWS):
        frame = queries.request_log(limit=min(CSV_PAGE_ROWS, limit - offset), offset=offset, **log_kwargs)
        frame["tags"] = frame["tags"].map(lambda t: ";".join(f"{k}={v}" for k, v in sorted(t.items())))
        for column in frame.select_dtypes(include="object").columns:  # text only: numbers stay numbers
            frame[column] = frame[column].map(fmt.csv_cell)
        frame.to_csv(out, index=False, header=offset == 0)
        if len(frame) < CSV_PAGE_ROWS:
            break
    return out.getvalue().encode()


def color_order(provider_list: list[dict]) -> list[str]:
    """Provider names in a fixed order (by id), so each keeps its chart color whatever the filters."""
    return [p["name"] for p in sorted(provider_list, key=lambda p: p["id"])]
