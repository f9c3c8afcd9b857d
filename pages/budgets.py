"""Budgets: spend against each budget this period, the forecast to the period's end, alerts fired."""

import altair as alt
import streamlit as st

from dashboard import filters
from metrics_core import alerts, budgets
from metrics_core import formatting as fmt

filters.current()  # first on every page: runs the page inside app.py (password, database checks, sidebar)
st.title("Budgets")

statuses = budgets.statuses()
if not statuses:
    st.info(
        "No budgets yet. Add one below, or from the command line: "
        "`llm-metrics budget set team --amount 100 [--provider claude | --tag project=search] [--hard]`."
    )
else:
    table = [s.as_dict() for s in statuses]
    for row in table:
        row["used"] = min(row["percent"], 100.0)
    st.dataframe(
        table,
        hide_index=True,
        column_order=["name", "scope", "period_label", "kind", "amount_usd", "spent_usd", "used", "percent",
                      "projected_usd", "projected_low_usd", "projected_high_usd", "run_out_date", "state"],
        column_config={
            "name": "Budget", "scope": "Scope", "period_label": "Period", "kind": "Kind",
            "amount_usd": st.column_config.NumberColumn("Limit", format="$%.2f"),
            "spent_usd": st.column_config.NumberColumn("Spent", format="$%.2f"),
            "used": st.column_config.ProgressColumn("Used", min_value=0, max_value=100, format="%.0f%%"),
            "percent": st.column_config.NumberColumn("%", format="%.1f%%"),
            "projected_usd": st.column_config.NumberColumn("Projected", format="$%.2f",
                                                           help="Spend at the end of the period at the current pace"),
            "projected_low_usd": st.column_config.NumberColumn("Low", format="$%.2f"),
            "projected_high_usd": st.column_config.NumberColumn("High", format="$%.2f"),
            "run_out_date": st.column_config.TextColumn("Runs out", help="At the current pace; empty: not this period"),
            "state": "State",
        },
    )  # fmt: skip
    over = [s.budget.name for s in statuses if s.exhausted and s.budget.hard]
    if over:
        st.error(f"Hard budget spent: {', '.join(fmt.md(n) for n in over)}. `check_budget` refuses covered calls and "
                 "`pick_provider` falls back to local providers until the period ends.")  # fmt: skip

    chosen = st.selectbox("Forecast of", [s.budget.name for s in statuses])
    status = next(s for s in statuses if s.budget.name == chosen)
    frame = budgets.forecast_frame(status)
    chart = (
        alt.Chart(frame)
        .mark_line(point=alt.OverlayMarkDef(size=20))
        .encode(
            x=alt.X("yearmonthdate(date):T", title=None),
            y=alt.Y("usd:Q", title="Cumulative spend (USD)"),
            color=alt.Color("series:N", title=None, legend=alt.Legend(orient="bottom"), scale=alt.Scale(
                domain=["actual", "projected", "limit"], range=["#4c78a8", "#f58518", "#e45756"])),
            strokeDash=alt.StrokeDash("series:N", legend=None, scale=alt.Scale(
                domain=["actual", "projected", "limit"], range=[[1, 0], [6, 3], [2, 2]])),
            tooltip=["yearmonthdate(date):T", "series:N", alt.Tooltip("usd:Q", format="$,.2f")],
        )
    )  # fmt: skip
    st.altair_chart(chart, width="stretch")
    f = status.forecast
    st.caption(f"Projected {f.projected:,.2f} USD by {status.period_end} (range {f.low:,.2f} to {f.high:,.2f}); "
               f"method: {f.method}. Unpriced calls in scope: {status.unpriced_requests}.")  # fmt: skip

with st.expander("Add or change a budget", expanded=not statuses):
    with st.form("budget"):
        name = st.text_input("Name", placeholder="team-monthly")
        amount = st.number_input("Amount (USD per period)", min_value=0.01, value=100.0, step=10.0)
        scope = st.text_input("Scope", value="all", help="all, provider:NAME, model:NAME or tag:KEY=VALUE")
        period = st.selectbox("Period", budgets.PERIODS)
        thresholds = st.text_input("Alert thresholds (%)", value="50,80,100")
        hard = st.toggle("Hard: block covered calls and fall back to local providers once spent")
        if st.form_submit_button("Save budget", type="primary"):
            try:
                budgets.set_budget(name=name.strip(), amount_usd=str(amount), scope=scope, period=period,
                                   thresholds=thresholds, hard=hard)  # fmt: skip
            except ValueError as exc:
                st.error(fmt.md(exc))
            else:
                st.rerun()
    if statuses:
        gone = st.selectbox("Delete budget", [s.budget.name for s in statuses], index=None)
        if gone and st.button(f"Delete {gone}"):
            budgets.delete_budget(gone)
            st.rerun()

st.subheader("Alerts")
if st.button("Check alerts now", help="Runs `llm-metrics alerts check`: new alerts are recorded and sent"):
    try:
        result = alerts.check()
    except ValueError as exc:
        st.error(fmt.md(exc))
    else:
        st.toast(f"{len(result.fired)} new alert(s), {len(result.failures)} channel failure(s)")
history = alerts.history(limit=200)
if history.empty:
    st.caption("No alert has fired yet.")
else:
    st.dataframe(history, hide_index=True, column_config={
        "rule": "Rule", "subject": "Subject", "period": "Period", "threshold": "Threshold %", "value": "Value",
        "title": "Alert", "status": "Delivery", "attempts": "Attempts", "last_error": "Last error",
        "fired_at": st.column_config.DatetimeColumn("Fired (UTC)", format="YYYY-MM-DD HH:mm"),
        "delivered_at": st.column_config.DatetimeColumn("Delivered (UTC)", format="YYYY-MM-DD HH:mm"),
    })  # fmt: skip
