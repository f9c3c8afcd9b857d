"""Budgets: spend against each budget this period, the forecast to the period's end, alerts fired."""

import altair as alt
import streamlit as st

from dashboard import budget_form, filters
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
        placeholder="—",
        column_order=["name", "scope", "period_label", "kind", "amount_usd", "spent_usd", "held_usd", "used", "percent",
                      "projected_usd", "run_out_date", "state"],
        column_config={
            "name": st.column_config.TextColumn("Budget", width=120),
            "scope": st.column_config.TextColumn("Scope", width=175),
            "period_label": st.column_config.TextColumn("Period", width=90),
            "kind": st.column_config.TextColumn("Kind", width=55),
            "amount_usd": st.column_config.NumberColumn("Limit", format="dollar", width=80),
            "spent_usd": st.column_config.NumberColumn("Spent", format="dollar", width=80),
            "held_usd": st.column_config.NumberColumn("Held", format="dollar", width=70,
                                                      help="Worst case of calls in flight (hard budgets)"),
            "used": st.column_config.ProgressColumn("Used", min_value=0, max_value=100, format="%.0f%%", width=90),
            "percent": st.column_config.NumberColumn("%", format="%.1f%%", width=60),
            "projected_usd": st.column_config.NumberColumn("Projected", format="dollar", width=85,
                                                           help="Spend at the end of the period at the current pace "
                                                                "(the range is under the forecast chart)"),
            "run_out_date": st.column_config.TextColumn("Runs out", width=85,
                                                        help="At the current pace; — : not this period"),
            "state": st.column_config.TextColumn("State", width=60),
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
               f"method: {f.method}. Unpriced calls in scope: {status.unpriced_requests}. "
               f"Held by calls in flight: {status.held:,.2f} USD; holds expired unsettled this period "
               f"(a process died): {status.expired_holds}.")  # fmt: skip

with st.expander("Add or change a budget", expanded=not statuses):
    budget_form.form()
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
