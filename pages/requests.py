"""Request log: the latest calls, filtered and paged in SQL, with a CSV download of the filtered rows."""

import math

import streamlit as st

from dashboard import data, filters, request_detail
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
signature = (f.window, f.providers, f.models, tuple(sorted(query.items(), key=str)), page_size)
if st.session_state.get("_log_signature") != signature:  # new filters: back to the first page
    st.session_state["_log_signature"] = signature
    st.session_state.pop("log_page", None)
page = st.session_state.get("log_page", 1)
# An error-text filter must read the raw rows: count them only when asked ("1-100 of many" until then)
counted = not query["error_contains"] or st.session_state.get("log_count_for") == signature
total = data.request_count(f, **query) if counted else None
pages = max(1, math.ceil(total / page_size)) if counted else None
page = min(page, pages) if pages else page
rows = data.request_log(f, limit=page_size + (0 if counted else 1), offset=(page - 1) * page_size, **query)
more = not counted and len(rows) > page_size
rows = rows.iloc[:page_size]

top_left, top_right = st.columns([3, 1], vertical_alignment="center")
if counted:
    top_left.markdown(f"**{fmt.count(total)}** matching {'call' if total == 1 else 'calls'}, newest first.")
elif not len(rows) and page == 1:
    top_left.markdown("**0** matching calls.")
else:
    first = (page - 1) * page_size + 1 if len(rows) else 0
    shown_to = (page - 1) * page_size + len(rows)
    top_left.markdown(
        f"Calls **{fmt.count(first)}–{fmt.count(shown_to)}** of {'many' if more else fmt.count(shown_to)} "
        "matching, newest first."
    )
    top_left.button(
        "Count all matches",
        key="log_count",
        on_click=lambda: st.session_state.update(log_count_for=signature),
        help="An error-text filter reads every call in the window, so the count is made only when asked",
    )
top_right.download_button(
    "Download CSV",
    data=lambda: data.log_csv(query),
    file_name=f"llm-requests-{f.window.start}-{f.window.end}.csv",
    mime="text/csv",
    on_click="ignore",
    icon=":material/download:",
    disabled=not len(rows),
    help=f"Every matching call (up to {fmt.count(data.EXPORT_LIMIT)}, newest first), not just this page",
)

request_detail.follow_selection("log_table", [int(i) for i in rows["id"]])
picked = st.dataframe(
    request_detail.table_view(rows),
    hide_index=True,
    on_select="rerun",
    selection_mode="single-row",
    key="log_table",
    placeholder="—",
    height=560,
    column_order=request_detail.TABLE_COLUMNS,
    column_config=request_detail.table_columns(),
)
if (pages or page + more) > 1:  # uncounted: one page more than this one while more rows follow
    st.pagination(pages or page + more, key="log_page", max_visible_pages=9, persist_state="session")
    st.caption(f"Page {page} of {fmt.count(pages)}" if pages else f"Page {page}{' of many' if more else ''}")

if picked.selection.rows:
    request_detail.show_call(rows.iloc[picked.selection.rows[0]])
