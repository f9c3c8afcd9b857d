"""Page parts used on more than one page: KPI rows, provider status cards, the attention list."""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass

import streamlit as st

from metrics_core import formatting as fmt

STATE_BADGES = {
    "closed": ("Circuit closed", "green", ":material/check_circle:"),
    "half_open": ("Circuit half-open", "orange", ":material/pending:"),
    "open": ("Circuit open", "red", ":material/error:"),
}


@dataclass(frozen=True)
class Kpi:
    label: str
    value: str
    delta: str | None = None
    delta_color: str = "normal"  # "inverse" when up is bad (spend, latency)
    help: str | None = None
    chart: list | None = None


def kpi_row(kpis: list[Kpi], *, previous_label: str = "previous window", per_row: int = 3) -> None:
    """One bordered ``st.metric`` per KPI, ``per_row`` side by side, deltas against the previous window."""
    columns = []
    while len(columns) < len(kpis):
        columns += st.columns(per_row)
    for column, k in zip(columns, kpis, strict=False):
        column.metric(
            k.label,
            k.value,
            k.delta,
            delta_color=k.delta_color if fmt.is_change(k.delta) else "off",
            delta_arrow="auto" if fmt.is_change(k.delta) else "off",
            help=k.help,
            border=True,
            chart_data=k.chart,
            chart_type="area",
            delta_description=f"vs {previous_label}" if k.delta else None,
        )


def state_badge(provider: dict) -> None:
    label, color, icon = STATE_BADGES.get(provider["circuit_state"], STATE_BADGES["closed"])
    st.badge(label, color=color, icon=icon)
    if not provider["enabled"]:
        st.badge("Disabled", color="gray", icon=":material/block:")


def provider_card(provider: dict, usage: dict | None) -> None:
    """A bordered card: name, type, circuit state, and the window's success rate and latency."""
    with st.container(border=True):
        st.markdown(
            f"**{fmt.md(provider['display_name'])}**  \n{fmt.md_code(provider['name'])} · {provider['provider_type']}"
        )
        with st.container(horizontal=True, gap="small"):
            state_badge(provider)
        if usage and usage["total_requests"]:
            st.markdown(
                f"{fmt.plural(usage['total_requests'], 'call')} · **{fmt.pct(usage['success_rate'])}** success  \n"
                f"avg {fmt.ms(usage['avg_response_time_ms'])} · p95 {fmt.ms(usage['p95_response_time_ms'])}"
            )
        else:
            st.caption("No calls in this window.")
        if provider["circuit_state"] != "closed" or provider["failure_count"]:
            st.caption(f"{provider['failure_count']} consecutive failures")


@dataclass(frozen=True)
class Attention:
    level: str  # error | warning | info
    text: str


def attention_items(health: dict, costs: dict, providers: list[dict]) -> list[Attention]:
    """What needs a human: open circuits, unpriced calls, dropped records, write errors, budgets."""
    names = {p["name"]: fmt.md(p["display_name"]) for p in providers}  # every name below is escaped
    items = []
    if health["providers_enabled"] and not health["providers_available"]:
        items.append(
            Attention("error", "**No enabled provider is available**: every enabled provider's circuit is open.")
        )
    for name in health["open_circuits"]:
        p = next((p for p in providers if p["name"] == name), None)
        since = f" since {p['opened_at']:%Y-%m-%d %H:%M} UTC" if p and p.get("opened_at") else ""
        items.append(
            Attention(
                "error",
                f"**{names.get(name, fmt.md(name))}**: circuit open{since}; calls are routed elsewhere. "
                "Reset it on *Providers & health* once the provider is back.",
            )
        )
    for name in health.get("half_open_circuits", []):
        items.append(
            Attention("warning", f"**{names.get(name, fmt.md(name))}**: circuit half-open, the next call decides.")
        )
    if health.get("recent_success_rate") is not None and health["recent_success_rate"] < 90:
        items.append(
            Attention(
                "warning",
                f"Only {fmt.pct(health['recent_success_rate'])} of the last hour's "
                f"{fmt.plural(health['recent_requests'], 'call')} succeeded.",
            )
        )
    if costs["unpriced_requests"]:
        models = sorted({m["model"] for m in costs["by_model"] if m["unpriced_requests"]})
        have = "has" if costs["unpriced_requests"] == 1 else "have"
        items.append(
            Attention(
                "warning",
                f"**{fmt.plural(costs['unpriced_requests'], 'call')} {have} no known price** "
                f"({', '.join(fmt.md(m) for m in models)}) and are left out of spend. Give them a price with "
                "`llm-metrics price set --model … --input … --output …`, then "
                "`llm-metrics reprice`.",
            )
        )
    if health.get("dropped_records"):
        items.append(
            Attention(
                "error",
                f"**{fmt.count(health['dropped_records'])} records were dropped or lost** by a recorder: "
                "its queue was full while the database was unreachable, or a process ended before "
                "they could be written (see `llm_recorder_faults`).",
            )
        )
    if health.get("write_errors"):
        items.append(
            Attention(
                "warning",
                f"This process hit {health['write_errors']} database write errors "
                f"(last: {fmt.md(health.get('last_write_error'))}).",
            )
        )
    items += budgets_at_risk()
    return items


def budgets_at_risk() -> list[Attention]:
    """Budgets spent or heading over, from ``metrics_core.budgets`` when it is installed (it is built
    separately; without it there is nothing to report)."""
    try:
        if importlib.util.find_spec("metrics_core.budgets") is None:
            return []
        statuses = getattr(importlib.import_module("metrics_core.budgets"), "statuses", None)
        rows = [status.as_dict() for status in statuses()] if statuses is not None else []
    except Exception as exc:  # an optional part must not take the overview down with it
        return [Attention("warning", f"Budgets could not be checked: {type(exc).__name__}: {fmt.md(exc)}")]
    items = []
    for s in rows:
        if s["state"] == "ok":
            continue
        label = f"**Budget {fmt.md(s['name'])}** ({fmt.md(s['scope'])}, {s['period_label']})"
        spent = f"{fmt.money(s['spent_usd'])} of {fmt.money(s['amount_usd'])} ({fmt.pct(s['percent'])})"
        if s["state"] == "over":
            items.append(Attention("error", f"{label} is spent: {spent}."))
        else:
            items.append(
                Attention(
                    "warning",
                    f"{label}: {spent} used, {fmt.money(s['projected_usd'])} projected "
                    "by the end of the period. See *Budgets*.",
                )
            )
    return items


def attention_list(items: list[Attention]) -> None:
    if not items:
        st.success(
            "Nothing needs attention: every circuit is closed, every call is priced, no record was dropped.",
            icon=":material/task_alt:",
        )
    for item in items:
        getattr(st, item.level)(item.text)
