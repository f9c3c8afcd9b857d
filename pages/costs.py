"""Costs & savings: actual spend against the same traffic on the reference model, by provider, model and tag."""

import pandas as pd
import streamlit as st

from dashboard import billing_panel, charts, data, filters, pricing_panel, sources_panel, widgets
from dashboard.widgets import Kpi
from metrics_core import formatting as fmt

f = filters.current()
st.title("Costs & savings")
st.caption(f.describe())

costs = data.cost_summary(f)
then, before = data.compared_costs(f) or ({}, {"total_requests": 0})  # complete days only
reference = costs["reference_model"]
had_before = before["total_requests"] > 0
widgets.kpi_row(
    [
        Kpi(
            "Spend",
            fmt.money(costs["total_cost_usd"]),
            fmt.delta(then["total_cost_usd"], before["total_cost_usd"], kind="money") if had_before else None,
            delta_color="inverse",
        ),
        Kpi(
            f"On {reference}",
            fmt.money(costs["hypothetical_claude_cost_usd"]),
            help=f"What every call in the window would have cost on {reference}",
        ),
        Kpi(
            "Savings",
            fmt.money(costs["estimated_savings_usd"]),
            fmt.delta(then["estimated_savings_usd"], before["estimated_savings_usd"], kind="money")
            if had_before
            else None,
            help="Reference cost minus actual cost, over priced calls",
        ),
        Kpi("Savings %", fmt.pct(costs["savings_percentage"])),
        Kpi(
            "Local share",
            fmt.pct(costs["local_share_pct"]),
            help="Calls served by local providers, which cost nothing",
        ),
        Kpi(
            "Unpriced calls",
            fmt.count(costs["unpriced_requests"]),
            help="Calls to a model with no known price: left out of spend and savings, never counted as $0",
        ),
    ],
    previous_label=f.previous_label(),
)
if costs["unpriced_requests"]:
    models = sorted({m["model"] for m in costs["by_model"] if m["unpriced_requests"]})
    st.warning(
        f"{fmt.plural(costs['unpriced_requests'], 'call')} to {', '.join(fmt.md(m) for m in models)} have no "
        "known price: they are shown as *unpriced* below and left out of the totals. Set a price with "
        "`llm-metrics price set` and apply it with `llm-metrics reprice`."
    )
sources_panel.show(f)


def money_table(rows: list[dict], keys: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame([{k: float(v) if hasattr(v, "as_tuple") else v for k, v in r.items()} for r in rows])
    if frame.empty:
        return frame
    # a model none of whose calls could be priced has no cost, not a cost of $0
    unpriced_only = frame["unpriced_requests"] >= frame["total_requests"]
    for col in ("total_cost_usd", "estimated_savings_usd", "savings_percentage"):
        frame[col] = frame[col].mask(unpriced_only)
    return frame[
        [
            *keys,
            "total_requests",
            "total_cost_usd",
            "hypothetical_claude_cost_usd",
            "estimated_savings_usd",
            "savings_percentage",
            "unpriced_requests",
        ]
    ]


COLUMNS = {
    "provider": st.column_config.TextColumn("Provider"),
    "provider_type": st.column_config.TextColumn("Type"),
    "model": st.column_config.TextColumn("Model"),
    "tag_value": st.column_config.TextColumn("Value"),
    "total_requests": st.column_config.NumberColumn("Calls", format="localized"),
    "total_cost_usd": st.column_config.NumberColumn("Actual", format="$%.4f", help="Empty: unpriced"),
    "hypothetical_claude_cost_usd": st.column_config.NumberColumn(f"On {reference}", format="$%.4f"),
    "estimated_savings_usd": st.column_config.NumberColumn("Savings", format="$%.4f"),
    "savings_percentage": st.column_config.NumberColumn("Savings %", format="%.1f%%"),
    "unpriced_requests": st.column_config.NumberColumn("Unpriced calls", format="localized"),
}
st.subheader("Breakdown")
view = st.segmented_control(
    "Break down by",
    ["Provider", "Model", "Tag"],
    default="Provider",
    required=True,
    key="costs_breakdown",
    persist_state="session",
)
if view == "Provider":
    table = money_table(costs["by_provider"], ["provider", "provider_type"])
    category = "provider"
elif view == "Model":
    table = money_table(costs["by_model"], ["provider", "model"])
    category = "model"
else:
    tags = data.tag_values(f)
    keys = sorted(tags["tag_key"].unique())
    tag_key = st.selectbox("Tag", keys, key="costs_tag_key", persist_state="session") if keys else None
    table = money_table(data.tag_costs(f, tag_key).to_dict("records"), ["tag_value"]) if tag_key else pd.DataFrame()
    category = "tag_value"
    st.caption("A call with several tags counts once under each of them. Untagged calls are not shown here.")
if table.empty:
    st.caption(
        "No calls in this window."
        if view != "Tag"
        else "No tagged calls in this window: pass `tags={'project': …, 'user': …}` to `record_request()`."
    )
else:
    st.altair_chart(charts.actual_vs_reference(table.fillna(0), category, reference), width="stretch")
    st.dataframe(table, hide_index=True, column_config=COLUMNS, placeholder="unpriced")

st.subheader("Per day")
daily = data.daily(f)
st.altair_chart(
    charts.daily_lines(
        daily,
        {"cost_usd": "Actual cost", "reference_cost_usd": f"On {reference}"},
        "USD",
        "$,.2f",
        colors=[charts.PALETTE[0], charts.NEUTRAL],
    ),
    width="stretch",
)
pricing_panel.render(f)
billing_panel.show(f)
