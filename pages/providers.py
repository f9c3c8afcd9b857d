"""Providers & health: enable or disable, change priority, reset a circuit; availability over time."""

import streamlit as st

from dashboard import charts, data, filters, provider_table, stable_order, widgets
from metrics_core import formatting as fmt
from metrics_core.policy import providers as mp

f = filters.current()
st.title("Providers & health")
st.caption(
    "Routing (`pick_provider()`) takes the enabled, available provider with the lowest priority number. "
    "Changes here are written at once and apply to every process that records."
)


def _write(action, provider: dict, key: str | None = None) -> None:
    """Widget callback: write through metrics_core, forget cached figures, confirm."""
    value = st.session_state[key] if key else None
    updated = action(provider["id"], value) if key else action(provider["id"])
    data.invalidate()
    st.toast(
        f"{fmt.md(updated['display_name'])}: {'enabled' if updated['enabled'] else 'disabled'}, priority "
        f"{updated['priority']}, circuit {updated['circuit_state'].replace('_', '-')}."
    )


providers = data.providers()
ORDER_KEY = "providers_row_order"
rows_in_order = stable_order.stable(ORDER_KEY, providers, lambda p: p["id"])
if [p["id"] for p in rows_in_order] != [p["id"] for p in providers]:
    st.button(
        "Sort by priority",
        icon=":material/sort:",
        on_click=stable_order.reset,
        args=(ORDER_KEY,),
        help="Rows keep their place while you edit; this puts them in routing order again",
    )
usage = {row["provider"]: row for row in data.metrics(f)["by_provider"]}
header = st.columns([3, 1.2, 1.2, 2.2, 1.4], vertical_alignment="bottom")
for column, text in zip(header, ["Provider", "Enabled", "Priority", "Circuit"], strict=False):
    column.markdown(f"**{text}**")
for p in rows_in_order:
    name, enabled, priority, circuit, reset = st.columns([3, 1.2, 1.2, 2.2, 1.4], vertical_alignment="center")
    name.markdown(f"**{fmt.md(p['display_name'])}**  \n{fmt.md_code(p['name'])} · {p['provider_type']}")
    # Keys carry the stored value, so a change made elsewhere (CLI, another tab) shows on the next run.
    key = f"enabled_{p['id']}_{int(p['enabled'])}"
    enabled.toggle(
        "Enabled",
        value=p["enabled"],
        key=key,
        label_visibility="collapsed",
        on_change=_write,
        args=(mp.set_enabled, p, key),
    )
    key = f"priority_{p['id']}_{p['priority']}"
    priority.number_input(
        "Priority",
        min_value=1,
        step=1,
        value=p["priority"],
        key=key,
        label_visibility="collapsed",
        on_change=_write,
        args=(mp.set_priority, p, key),
    )
    with circuit:
        widgets.state_badge(p)
        if p["failure_count"]:
            st.caption(f"{p['failure_count']} consecutive failures")
    reset.button(
        "Reset circuit",
        key=f"reset_{p['id']}",
        on_click=_write,
        args=(mp.reset_circuit, p),
        disabled=p["circuit_state"] == "closed" and not p["failure_count"],
        help="Close the circuit and clear the failure count",
    )

st.subheader("Details")
st.dataframe(
    provider_table.details(providers, usage), hide_index=True, column_config=provider_table.COLUMNS, placeholder="—"
)

st.subheader("Availability")
avail = data.availability(f)
st.caption(
    "Share of each UTC day a provider's circuit was closed, from the circuit history: a provider is unavailable "
    "from the moment its circuit opens until a call succeeds again (half-open probes that fail keep it unavailable)."
)
st.altair_chart(charts.availability(avail, data.color_order(providers)), width="stretch")
overall = data.availability_summary(f).set_index("provider").to_dict("index")
shown = [p for p in providers if p["name"] in overall]
for column, p in zip(st.columns(len(shown) or 1), shown, strict=False):
    value, why = provider_table.availability_text(overall[p["name"]], usage.get(p["name"], {}).get("total_requests", 0))
    column.metric(fmt.md(p["display_name"]), value, border=True, help=f"Availability over the window. {why}.")

st.subheader("Circuit history")
events = data.circuit_events(f)
if events.empty:
    st.caption("No circuit transitions in this window.")
else:
    st.dataframe(
        events.sort_values("at", ascending=False).head(500),
        hide_index=True,
        column_config={
            "provider": "Provider",
            "at": st.column_config.DatetimeColumn("At (UTC)", format="YYYY-MM-DD HH:mm:ss"),
            "from_state": "From",
            "to_state": "To",
            "reason": "Reason",
        },
    )
    if len(events) > 500:
        st.caption(f"The latest 500 of {fmt.count(len(events))} transitions.")
