"""The Costs page's "Billed vs recorded" section: shown once billed figures were pulled
(``llm-metrics reconcile``). Figures from ``metrics_core.queries.billing``; nothing computed here."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from metrics_core import formatting as fmt
from metrics_core.money import as_float
from metrics_core.queries import Window, billing

from . import charts, data
from .widgets import Kpi, kpi_row

GAP_ROWS = 10
GAP_COLUMNS = {
    "provider": st.column_config.TextColumn("Billed by"),
    "day": st.column_config.DateColumn("Day", format="YYYY-MM-DD"),
    "model": st.column_config.TextColumn("Model", help="The recorded name; billed under a dated name"),
    "coverage_pct": st.column_config.NumberColumn("Coverage", format="%.1f%%", help="Empty: nothing billed"),
    "drift_pct": st.column_config.NumberColumn("Drift", format="%+.1f%%", help="Empty: a cost is unknown"),
    "recorded_cost_usd": st.column_config.NumberColumn("Recorded", format="$%.4f", help="Empty: unpriced"),
    "billed_cost_usd": st.column_config.NumberColumn("Billed", format="$%.4f", help="Empty: unknown"),
    "gap_usd": st.column_config.NumberColumn("Gap (USD)", format="%+.4f", help="Recorded minus billed"),
    "recorded_tokens": st.column_config.NumberColumn("Recorded tokens", format="localized"),
    "billed_tokens": st.column_config.NumberColumn("Billed tokens", format="localized"),
}


@st.cache_data(ttl=data.CACHE_TTL_SECONDS, max_entries=64, show_spinner=False)
def reconciliation(version: tuple, start, end, providers: tuple[str, ...]) -> dict:
    """``queries.billing.reconciliation`` cached on the data and billing versions and the window."""
    return billing.reconciliation(window=Window(start, end), providers=list(providers))


def _billing_providers(chosen: tuple[str, ...]) -> tuple[str, ...]:
    """The billing providers whose recorded providers the sidebar's provider filter keeps."""
    if not chosen:
        return billing.BILLING_PROVIDERS
    return tuple(p for p in billing.BILLING_PROVIDERS if set(billing.recorded_providers(p)) & set(chosen))


def _daily_chart(days: list[dict]) -> alt.Chart:
    """Recorded (dashed) and billed cost per day, one color per billing provider."""
    long = pd.DataFrame(
        [
            {"date": d["day"], "provider": d["provider"], "kind": kind, "usd": as_float(d[f"{kind}_cost_usd"])}
            for d in days
            for kind in ("recorded", "billed")
        ]
    )
    return (
        alt.Chart(long)
        .mark_line(point=True)
        .encode(
            x=alt.X("yearmonthdate(date):T", title=None, axis=alt.Axis(format="%-d %b", labelAngle=0)),
            y=alt.Y("usd:Q", title="Cost (USD)", axis=alt.Axis(format="$,.2f")),
            color=alt.Color("provider:N", title="Billed by", legend=alt.Legend(orient="bottom")),
            strokeDash=alt.StrokeDash("kind:N", sort=["billed", "recorded"], legend=None),
            tooltip=[
                alt.Tooltip("yearmonthdate(date):T", title="Day"),
                alt.Tooltip("provider:N", title="Billed by"),
                alt.Tooltip("kind:N", title="Cost"),
                alt.Tooltip("usd:Q", title="USD", format="$,.4f"),
            ],
        )
        .properties(height=charts.HEIGHT)
    )


def show(f) -> None:
    """Draw the section for the sidebar's filters ``f``; nothing at all before the first pull."""
    status = billing.billed_status()
    if not status:
        return
    st.subheader("Billed vs recorded")
    st.caption(billing.COVERAGE_EXPLANATION)
    chosen = _billing_providers(f.providers)
    version = (data.version(), tuple((s["provider"], s["days"], s["pulled_at"]) for s in status))
    result = reconciliation(version, f.window.start, f.window.end, chosen) if chosen else None
    if not result or not result["providers"]:
        pulled = ", ".join(f"{s['provider']} {s['first_day']} – {s['last_day']}" for s in status)
        st.caption(f"No billed figures in this window. Pulled so far: {pulled}.")
        return
    kpis = []
    for p in result["providers"]:
        kpis += [
            Kpi(
                f"{p['provider']} coverage",
                fmt.pct(p["coverage_pct"]),
                help=f"{fmt.count(p['recorded_tokens'])} of {fmt.count(p['billed_tokens'])} billed tokens recorded "
                f"over {p['days_pulled']} billed days",
            ),
            Kpi(
                f"{p['provider']} drift",
                fmt.DASH if p["drift_pct"] is None else f"{float(p['drift_pct']):+.1f}%",
                help=f"Recorded {fmt.money(p['recorded_cost_usd'])} vs billed {fmt.money(p['billed_cost_usd'])} "
                f"(of which {fmt.money(p['other_cost_usd'])} tool fees and other line items)",
            ),
        ]
    kpi_row(kpis, per_row=4)
    st.altair_chart(_daily_chart(result["days"]), width="stretch")
    st.caption("Cost per day: solid lines billed, dashed lines recorded.")
    gaps = billing.largest_gaps(result, GAP_ROWS)
    if gaps:
        table = pd.DataFrame(
            [{k: as_float(g[k]) if k.endswith(("_usd", "_pct")) else g[k] for k in GAP_COLUMNS} for g in gaps]
        )
        st.dataframe(table, hide_index=True, column_config=GAP_COLUMNS, placeholder="—")
    else:
        st.caption("No gaps: every billed model's tokens and cost match what was recorded.")
