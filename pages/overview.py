"""Overview: the morning glance. KPIs against the previous window, provider status, what needs attention."""

import pandas as pd
import streamlit as st

from dashboard import charts, data, filters, widgets
from dashboard.widgets import Kpi
from metrics_core import clock
from metrics_core import formatting as fmt

f = filters.current()
st.title("Overview")
st.caption(f.describe())

usage, costs = data.metrics(f), data.cost_summary(f)
# deltas over complete days only (a running day is not compared with whole days)
usage_then, usage_before = data.compared_metrics(f) or ({}, {})
costs_then, costs_before = data.compared_costs(f) or ({}, {})
daily = data.daily(f)
complete = ~daily["running"]
p95_daily = data.latency(f, by="day")
p95_complete = p95_daily.loc[p95_daily["day"] < pd.Timestamp(clock.today()), "p95_ms"]
compare = bool(usage_before) and usage_before["total_requests"] > 0 and usage_then["total_requests"] > 0


def delta(key: str, then: dict, before: dict, kind: str = "count") -> str | None:
    return fmt.delta(then[key], before[key], kind=kind) if compare else None


def per_day(values) -> list[float]:
    """A sparkline over the complete days (a young day would dip at the right edge)."""
    return [round(float(v), 4) for v in values[complete.to_numpy()].fillna(0)]


widgets.kpi_row(
    [
        Kpi(
            "Requests",
            fmt.count(usage["total_requests"]),
            delta("total_requests", usage_then, usage_before),
            chart=per_day(daily["requests"]),
        ),
        Kpi(
            "Success rate",
            fmt.pct(usage["success_rate"]),
            delta("success_rate", usage_then, usage_before, "points"),
            chart=per_day(daily["success_rate"]),
        ),
        Kpi(
            "p95 latency",
            fmt.ms(usage["p95_response_time_ms"] if usage["total_requests"] else None),
            delta("p95_response_time_ms", usage_then, usage_before, "ms"),
            delta_color="inverse",
            chart=[round(float(v), 1) for v in p95_complete],
            help="95th percentile of call duration, failed calls included",
        ),
        Kpi(
            "Spend",
            fmt.money(costs["total_cost_usd"]),
            delta("total_cost_usd", costs_then, costs_before, "money"),
            delta_color="inverse",
            chart=per_day(daily["cost_usd"]),
            help="Priced calls only; unpriced calls are listed under *Needs attention*",
        ),
        Kpi(
            "Savings",
            fmt.money(costs["estimated_savings_usd"]),
            delta("estimated_savings_usd", costs_then, costs_before, "money"),
            chart=per_day(daily["savings_usd"]),
            help=f"What the same calls would have cost on {costs['reference_model']}, minus what they cost",
        ),
        Kpi(
            "Savings %",
            fmt.pct(costs["savings_percentage"]),
            delta("savings_percentage", costs_then, costs_before, "points"),
            chart=per_day(daily["savings_percentage"]),
        ),
    ],
    previous_label=f.previous_label(),
)
st.caption(f.comparison.describe() + " Sparklines show complete days.")

providers = data.providers()
shown = [p for p in providers if not f.providers or p["name"] in f.providers]
by_provider = {row["provider"]: row for row in usage["by_provider"]}
st.subheader("Providers")
columns = st.columns(min(4, len(shown)) or 1)
for i, provider in enumerate(shown):
    with columns[i % len(columns)]:
        widgets.provider_card(provider, by_provider.get(provider["name"]))

st.subheader("Needs attention")
widgets.attention_list(widgets.attention_items(data.health(), costs, providers))

left, right = st.columns(2)
with left:
    st.subheader("Requests per day")
    st.altair_chart(
        charts.stacked_daily(data.daily(f, by_provider=True), daily, "requests", data.color_order(providers)),
        width="stretch",
    )
with right:
    st.subheader("Spend per day")
    st.altair_chart(
        charts.daily_lines(
            daily,
            {"cost_usd": "Actual cost", "reference_cost_usd": f"On {costs['reference_model']}"},
            "USD",
            "$,.2f",
            colors=[charts.PALETTE[0], charts.NEUTRAL],
        ),
        width="stretch",
    )
