"""Overview: the morning glance. KPIs against the previous window, provider status, what needs attention."""

import streamlit as st

from dashboard import charts, data, filters, widgets
from dashboard.widgets import Kpi
from metrics_core import clock
from metrics_core import formatting as fmt

f = filters.current()
st.title("Overview")
st.caption(f.describe())

usage, usage_before = data.metrics(f), data.metrics(f, previous=True)
costs, costs_before = data.cost_summary(f), data.cost_summary(f, previous=True)
daily = data.daily(f)
p95_daily = data.latency(f, by="day")
compare = usage_before["total_requests"] > 0 and usage["total_requests"] > 0


def delta(key: str, now: dict, before: dict, kind: str = "count") -> str | None:
    return fmt.delta(now[key], before[key], kind=kind) if compare else None


def per_day(values) -> list[float]:
    return [round(float(v), 4) for v in values.fillna(0)]


priced_reference = daily["savings_usd"] + daily["cost_usd"]
widgets.kpi_row(
    [
        Kpi(
            "Requests",
            fmt.count(usage["total_requests"]),
            delta("total_requests", usage, usage_before),
            chart=per_day(daily["requests"]),
        ),
        Kpi(
            "Success rate",
            fmt.pct(usage["success_rate"]),
            delta("success_rate", usage, usage_before, "points"),
            chart=per_day(daily["successful_requests"] / daily["requests"].where(daily["requests"] > 0) * 100),
        ),
        Kpi(
            "p95 latency",
            fmt.ms(usage["p95_response_time_ms"] if usage["total_requests"] else None),
            delta("p95_response_time_ms", usage, usage_before, "ms"),
            delta_color="inverse",
            chart=per_day(p95_daily["p95_ms"]),
            help="95th percentile of call duration, failed calls included",
        ),
        Kpi(
            "Spend",
            fmt.money(costs["total_cost_usd"]),
            delta("total_cost_usd", costs, costs_before, "money"),
            delta_color="inverse",
            chart=per_day(daily["cost_usd"]),
            help="Priced calls only; unpriced calls are listed under *Needs attention*",
        ),
        Kpi(
            "Savings",
            fmt.money(costs["estimated_savings_usd"]),
            delta("estimated_savings_usd", costs, costs_before, "money"),
            chart=per_day(daily["savings_usd"]),
            help=f"What the same calls would have cost on {costs['reference_model']}, minus what they cost",
        ),
        Kpi(
            "Savings %",
            fmt.pct(costs["savings_percentage"]),
            delta("savings_percentage", costs, costs_before, "points"),
            chart=per_day(daily["savings_usd"] / priced_reference.where(priced_reference > 0) * 100),
        ),
    ],
    previous_label=f.previous_label(),
)
if compare and f.window.end == clock.today():
    st.caption("Today is still running: the deltas compare it, as part of the window, with whole days before.")

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
