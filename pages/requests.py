"""Request log: the latest calls, filtered and paged in SQL, with a CSV download of the filtered rows."""

import math

import streamlit as st

from dashboard import data, filters
from metrics_core import STATUSES
from metrics_core import formatting as fmt

f = filters.current()
st.title("Request log")
st.caption(f.describe())

status_col, key_col, value_col, text_col, size_col = st.columns([2.2, 1.2, 1.6, 2, 1])
statuses = status_col.multiselect(
    "Status", STATUSES, key="log_status", placeholder="Any status", persist_state="session"
)
tags = data.tag_values(f)
tag_key = key_col.selectbox(
    "Tag",
    sorted(tags["tag_key"].unique()),
    index=None,
    key="log_tag_key",
    placeholder="Any tag",
    persist_state="session",
)
values = sorted(tags.loc[tags["tag_key"] == tag_key, "tag_value"]) if tag_key else []
tag_value = value_col.selectbox(
    "Value",
    values,
    index=None,
    key="log_tag_value",
    disabled=not tag_key,
    placeholder="Any value",
    persist_state="session",
)
error_text = text_col.text_input(
    "Error contains", key="log_error", placeholder="e.g. 429, timed out", persist_state="session"
)
page_size = size_col.selectbox("Rows per page", (50, 100, 250), index=1, key="log_page_size", persist_state="session")

query = data.log_filters(
    f, statuses=statuses, tag=(tag_key, tag_value) if tag_key and tag_value else None, error_contains=error_text
)
total = data.request_count(f, **query)
pages = max(1, math.ceil(total / page_size))
signature = (f.window, f.providers, f.models, tuple(sorted(query.items(), key=str)), page_size)
if st.session_state.get("_log_signature") != signature:  # new filters: back to the first page
    st.session_state["_log_signature"] = signature
    st.session_state.pop("log_page", None)

top_left, top_right = st.columns([3, 1], vertical_alignment="center")
top_left.markdown(f"**{fmt.count(total)}** matching calls, newest first.")
top_right.download_button(
    "Download CSV",
    data=lambda: data.log_csv(query),
    file_name=f"llm-requests-{f.window.start}-{f.window.end}.csv",
    mime="text/csv",
    on_click="ignore",
    icon=":material/download:",
    disabled=not total,
    help=f"Every matching call (up to {fmt.count(data.EXPORT_LIMIT)}, newest first), not just this page",
)

page = st.session_state.get("log_page", 1)
rows = data.request_log(f, limit=page_size, offset=(min(page, pages) - 1) * page_size, **query)
shown = rows.assign(tags=rows["tags"].map(lambda t: ", ".join(f"{k}={v}" for k, v in sorted(t.items()))))
picked = st.dataframe(
    shown,
    hide_index=True,
    on_select="rerun",
    selection_mode="single-row",
    key="log_table",
    placeholder="—",
    height=560,
    column_order=[
        "timestamp",
        "provider",
        "model",
        "status",
        "prompt_tokens",
        "completion_tokens",
        "cache_read_tokens",
        "duration_ms",
        "ttft_ms",
        "cost_usd",
        "error_message",
        "tags",
        "endpoint",
    ],
    column_config={
        "timestamp": st.column_config.DatetimeColumn("Time (UTC)", format="YYYY-MM-DD HH:mm:ss"),
        "provider": "Provider",
        "model": "Model",
        "status": "Status",
        "prompt_tokens": st.column_config.NumberColumn("Prompt", format="localized"),
        "completion_tokens": st.column_config.NumberColumn("Completion", format="localized"),
        "cache_read_tokens": st.column_config.NumberColumn("Cache read", format="localized"),
        "duration_ms": st.column_config.NumberColumn("Duration", format="%.0f ms"),
        "ttft_ms": st.column_config.NumberColumn("TTFT", format="%.0f ms"),
        "cost_usd": st.column_config.NumberColumn("Cost", format="$%.6f", help="— : no known price (unpriced)"),
        "error_message": st.column_config.TextColumn("Error", width="large"),
        "tags": "Tags",
        "endpoint": "Endpoint",
    },
)
if pages > 1:
    st.pagination(pages, key="log_page", max_visible_pages=9, persist_state="session")
    st.caption(f"Page {min(page, pages)} of {fmt.count(pages)}")

if picked.selection.rows:
    row = rows.iloc[picked.selection.rows[0]]
    with st.container(border=True):
        st.markdown(
            f"**Call {row['id']}** · {row['timestamp']:%Y-%m-%d %H:%M:%S} UTC · {fmt.md(row['provider'])} / "
            f"{fmt.md_code(row['model'])} · {row['status']}"
        )
        if isinstance(row["error_message"], str) and row["error_message"]:
            st.code(row["error_message"], language=None, wrap_lines=True)
        details = row.drop(["id", "timestamp", "provider", "model", "status", "error_message"])
        st.json({k: None if isinstance(v, float) and v != v else v for k, v in details.items()}, expanded=True)
