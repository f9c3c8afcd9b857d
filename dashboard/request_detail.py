"""The request log's selected call: a selection that follows its call, and the details pane."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from metrics_core import formatting as fmt

HEADLINE = ("id", "timestamp", "provider", "model", "status", "error_message")


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
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()  # numpy scalar -> int / float / bool
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return value
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
            f"**Call {int(row['id'])}** · {row['timestamp']:%Y-%m-%d %H:%M:%S} UTC · {row['provider']} / "
            f"`{row['model']}` · {row['status']}"
        )
        if isinstance(row["error_message"], str) and row["error_message"]:
            st.code(row["error_message"], language=None, wrap_lines=True)
        st.json(call_details(row), expanded=True)
