"""The Providers page's details table and availability figures, in the dashboard's one format."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from metrics_core import formatting as fmt

NO_CALLS = "no calls"

COLUMNS = {
    "Provider": st.column_config.TextColumn(width=135),
    "Type": st.column_config.TextColumn(width=65),
    "Circuit": st.column_config.TextColumn(width=75),
    "Failures": st.column_config.NumberColumn(width=65, help="Consecutive failed calls"),
    "Last success": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm", width=120),
    "Last failure": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm", width=120),
    "Calls": st.column_config.NumberColumn(format="localized", width=65, help="In the window"),
    "Success": st.column_config.TextColumn(width=70, help="In the window; no calls: nothing to measure"),
    "p95": st.column_config.TextColumn(width=75, help="In the window"),
    "All-time calls": st.column_config.NumberColumn(format="localized", width=95),
    "All-time cost": st.column_config.TextColumn(width=95),
}


def details(providers: list[dict], usage: dict[str, dict]) -> pd.DataFrame:
    """One row per provider: settings, circuit, the window's usage and all-time totals."""
    rows = []
    for p in providers:
        u = usage.get(p["name"], {})
        called = bool(u.get("total_requests"))
        rows.append(
            {
                "Provider": p["display_name"],
                "Type": p["provider_type"],
                "Circuit": p["circuit_state"].replace("_", "-"),
                "Failures": p["failure_count"],
                "Last success": p["last_success_at"],
                "Last failure": p["last_failure_at"],
                "Calls": u.get("total_requests", 0),
                "Success": fmt.pct(u.get("success_rate")) if called else NO_CALLS,
                "p95": fmt.ms(u.get("p95_response_time_ms")) if called else fmt.DASH,
                "All-time calls": p["total_requests"],
                "All-time cost": fmt.money(p["total_cost_usd"]),
            }
        )
    return pd.DataFrame(rows, columns=list(COLUMNS))


def availability_text(availability: dict, calls: int) -> tuple[str, str]:
    """(value, help) of a provider's availability metric: ``no calls`` when it had no call and no
    outage in the window (nothing was measured), else the percentage."""
    if availability is None or (not calls and not availability.get("open_minutes")):
        return NO_CALLS, "No call reached this provider in the window, so there is no availability to measure"
    minutes = availability.get("open_minutes") or 0
    return fmt.pct(availability["availability_pct"], 2), f"Circuit open {fmt.count(round(minutes))} min in the window"
