"""The request log's selected call: a selection that follows its call, and the details pane."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from metrics_core import formatting as fmt

HEADLINE = ("id", "timestamp", "provider", "model", "status", "error_message")
# the table's columns: all but the last (tags) fit 1440 px; endpoint, cache tokens and more are in the details
TABLE_COLUMNS = [
    "timestamp",
    "provider",
    "model",
    "status",
    "prompt_tokens",
    "completion_tokens",
    "duration",
    "ttft",
    "cost",
    "price_source",
    "error_message",
    "tags",
]


def table_view(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows as the table shows them: durations and cost as text in the one format (``1,484 ms``,
    ``$0.0042``, ``unpriced``), tags as ``key=value`` text."""
    return rows.assign(
        tags=rows["tags"].map(lambda t: ", ".join(f"{k}={v}" for k, v in sorted(t.items()))),
        duration=rows["duration_ms"].map(fmt.ms),
        ttft=rows["ttft_ms"].map(fmt.ms),
        cost=rows["cost_usd"].map(lambda v: fmt.money(v, missing="unpriced")),
    )


def table_columns() -> dict:
    """``column_config`` of the request-log table."""
    return {
        "timestamp": st.column_config.DatetimeColumn("Time (UTC)", format="YYYY-MM-DD HH:mm:ss", width=140),
        "provider": st.column_config.TextColumn("Provider", width=70),
        "model": st.column_config.TextColumn("Model", width=135),
        "status": st.column_config.TextColumn("Status", width=85),
        "prompt_tokens": st.column_config.NumberColumn("Prompt", format="localized", width=60),
        "completion_tokens": st.column_config.NumberColumn("Completion", format="localized", width=80),
        "duration": st.column_config.TextColumn("Duration", width=75),
        "ttft": st.column_config.TextColumn("TTFT", width=65, help="Time to first token; — : not streamed"),
        "cost": st.column_config.TextColumn("Cost", width=75, help="unpriced: no known price (never $0)"),
        "price_source": st.column_config.TextColumn(
            "Priced by", width=110, help="genai-prices:<data version or date>, override:<id>, local or unpriced"
        ),
        "error_message": st.column_config.TextColumn("Error", width=150),
        "tags": st.column_config.TextColumn("Tags", width=220),
    }


def follow_selection(key: str, ids: list[int]) -> None:
    """Before the table ``key`` is drawn with rows ``ids``: keep its selected row on the same call.

    Streamlit keeps a selection by position; when filters or paging change the rows, the selected
    call moves to its new position, or the selection is dropped when the call is no longer shown.
    """
    memo = f"{key}__ids"
    state = st.session_state.get(key)
    previous = st.session_state.get(memo, [])
    st.session_state[memo] = list(ids)
    if not state:
        return
    rows = list(state["selection"]["rows"])
    chosen = [previous[i] for i in rows if 0 <= i < len(previous)]
    positions = [ids.index(c) for c in chosen if c in ids]
    if positions != rows:
        st.session_state[key] = {"selection": {"rows": positions, "columns": [], "cells": []}}


def plain(value):
    """A cell as a JSON-friendly Python value: numpy numbers as int/float, missing as a dash."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if fmt.is_missing(value):
        return fmt.DASH
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()  # numpy scalar -> int / float / bool
    return value


def call_details(row: pd.Series) -> dict:
    """Everything about one call except its headline fields, with plain Python values."""
    details = {k: plain(v) for k, v in row.drop(list(HEADLINE), errors="ignore").items()}
    if details.get("cost_usd") == fmt.DASH:
        details["cost_usd"] = "unpriced"
    return details


def show_call(row: pd.Series) -> None:
    """The details pane of one call."""
    with st.container(border=True):
        st.markdown(
            f"**Call {int(row['id'])}** · {row['timestamp']:%Y-%m-%d %H:%M:%S} UTC · {fmt.md(row['provider'])} / "
            f"{fmt.md_code(row['model'])} · {row['status']}"
        )
        if isinstance(row["error_message"], str) and row["error_message"]:
            st.code(row["error_message"], language=None, wrap_lines=True)
        st.json(call_details(row), expanded=True)
