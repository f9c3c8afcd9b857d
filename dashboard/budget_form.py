"""The Budgets page's form: scope chosen from what is recorded (providers, models, tag keys and
values of the last 90 days), free text still allowed; cleared after a successful save."""

from __future__ import annotations

import streamlit as st

from metrics_core import budgets, queries

SCOPE_KINDS = {"all": "Everything", "provider": "Provider", "model": "Model", "tag": "Tag"}
FIELDS = ("budget_name", "budget_amount", "budget_scope_kind", "budget_scope_value", "budget_tag_key",
          "budget_tag_value", "budget_period", "budget_thresholds", "budget_hard")  # fmt: skip
CHOICE_DAYS = 90


def scope_text(kind: str, value: str | None, tag_key: str | None, tag_value: str | None) -> str:
    """The scope as ``budgets.set_budget`` reads it (``all``, ``provider:NAME``, ``tag:KEY=VALUE``)."""
    if kind == "all":
        return "all"
    if kind == "tag":
        return f"tag:{(tag_key or '').strip()}={(tag_value or '').strip()}"
    return f"{kind}:{(value or '').strip()}"


def _save() -> None:
    """Button callback: write the budget; on success clear the form, else keep it and say why."""
    s = st.session_state
    scope = scope_text(s["budget_scope_kind"], s.get("budget_scope_value"), s.get("budget_tag_key"),
                       s.get("budget_tag_value"))  # fmt: skip
    try:
        saved = budgets.set_budget(
            name=(s.get("budget_name") or "").strip(),
            amount_usd=str(s["budget_amount"]),
            scope=scope,
            period=s["budget_period"],
            thresholds=s["budget_thresholds"],
            hard=s["budget_hard"],
        )
    except ValueError as exc:
        s["budget_error"] = str(exc)
        return
    s.pop("budget_error", None)
    for key in FIELDS:
        s.pop(key, None)
    st.toast(f"Budget {saved.name} saved ({saved.scope_label}).")


def form() -> None:
    """Name, amount, scope (kind, then a value from lists), period, thresholds, hard; Save."""
    window = queries.Window.last(CHOICE_DAYS)
    name_col, amount_col, period_col = st.columns([2, 1, 1])
    name_col.text_input("Name", placeholder="team-monthly", key="budget_name")
    amount_col.number_input("Amount (USD per period)", min_value=0.01, value=100.0, step=10.0, key="budget_amount")
    period_col.selectbox("Period", budgets.PERIODS, key="budget_period")
    kind_col, value_col, tag_value_col = st.columns([1, 1.5, 1.5])
    kind = kind_col.selectbox("Scope", list(SCOPE_KINDS), format_func=SCOPE_KINDS.get, key="budget_scope_kind")
    if kind == "provider":
        names = [p["name"] for p in queries.list_providers()]
        value_col.selectbox("Provider", names, index=None, key="budget_scope_value", accept_new_options=True,
                            placeholder="Choose or type a provider")  # fmt: skip
    elif kind == "model":
        models = sorted(set(queries.model_names(window=window)["model"]))
        value_col.selectbox("Model", models, index=None, key="budget_scope_value", accept_new_options=True,
                            placeholder="Choose or type a model")  # fmt: skip
    elif kind == "tag":
        tags = queries.tag_values(window=window)
        key = value_col.selectbox("Tag key", sorted(set(tags["tag_key"])), index=None, key="budget_tag_key",
                                  accept_new_options=True, placeholder="e.g. project")  # fmt: skip
        values = sorted(tags.loc[tags["tag_key"] == key, "tag_value"]) if key else []
        tag_value_col.selectbox("Tag value", values, index=None, key="budget_tag_value", accept_new_options=True,
                                placeholder="e.g. search", disabled=not key)  # fmt: skip
    st.text_input("Alert thresholds (%)", value="50,80,100", key="budget_thresholds")
    st.toggle("Hard: block covered calls and fall back to local providers once spent", key="budget_hard")
    st.button("Save budget", type="primary", on_click=_save, key="budget_save")
    if st.session_state.get("budget_error"):
        st.error(st.session_state["budget_error"])
