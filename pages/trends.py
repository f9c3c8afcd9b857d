"""Trends: daily requests, tokens and cost, stacked by provider, with a 7-day moving average."""

import altair as alt
import streamlit as st

from dashboard import charts, data, filters
from metrics_core import formatting as fmt

MOVING_AVERAGE = 7
f = filters.current()
st.title("Trends")
st.caption(f.describe())

measure = st.segmented_control(
    "Measure",
    list(charts.MEASURES),
    default="requests",
    format_func=lambda m: charts.MEASURES[m][0],
    key="trends_measure",
    required=True,
    persist_state="session",
)
by_provider = data.daily(f, by_provider=True, moving_average=MOVING_AVERAGE)
totals = data.daily(f, moving_average=MOVING_AVERAGE)
names = data.color_order(data.providers())
st.altair_chart(charts.stacked_daily(by_provider, totals, measure, names, MOVING_AVERAGE), width="stretch")
st.caption(
    f"Bars: each provider's daily {charts.MEASURES[measure][0].lower()}. Dashed line: the total's "
    f"{MOVING_AVERAGE}-day moving average (it reaches back before the window and stops at yesterday: "
    "today is still running). Days are UTC."
)

complete_days = totals[~totals["running"]]  # a young day would pull the last week's mean down
if len(complete_days) >= 2 * MOVING_AVERAGE:
    last, first = complete_days.iloc[-MOVING_AVERAGE:], complete_days.iloc[:MOVING_AVERAGE]
    cols = st.columns(3)
    kinds = {"requests": (fmt.count, "count"), "tokens": (fmt.compact, "count"), "cost_usd": (fmt.money, "money")}
    for column, (m, (show, kind)) in zip(cols, kinds.items(), strict=True):
        change = fmt.delta(last[m].mean(), first[m].mean(), kind=kind)
        column.metric(
            f"{charts.MEASURES[m][0]} per day, last {MOVING_AVERAGE} complete days",
            show(last[m].mean()),
            change,
            border=True,
            delta_description=f"vs the window's first {MOVING_AVERAGE} days",
            delta_color=("inverse" if m == "cost_usd" else "normal") if fmt.is_change(change) else "off",
            delta_arrow="auto" if fmt.is_change(change) else "off",
        )

st.subheader("Success rate per day")
st.altair_chart(
    charts.daily_lines(totals, {"success_rate": "Success rate"}, "%", ".1f", scale=alt.Scale(zero=False)),
    width="stretch",
)
