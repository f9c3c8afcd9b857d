"""The Costs page's price provenance panel: which source priced the window's calls, and how old the
genai-prices data is (a warning past 60 days)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from metrics_core import formatting as fmt
from metrics_core.queries import Window
from metrics_core.queries.costs import price_sources
from metrics_core.queries.price_data import STALE_DAYS, price_data_status


@st.cache_data(ttl=600, max_entries=64, show_spinner=False)
def _sources(key: tuple, start, end, providers: tuple | None, models: tuple | None) -> list[dict]:
    # ``key`` (the page's data key) makes new calls visible at once
    return price_sources(
        window=Window(start, end),
        providers=list(providers) if providers else None,
        models=list(models) if models else None,
    )


@st.cache_data(ttl=60, max_entries=8, show_spinner=False)
def _status(key: tuple) -> dict:
    return price_data_status()


def render(f) -> None:
    """Draw the panel for the page's filters ``f``."""
    st.subheader("Where the prices come from")
    status = _status(f.key)
    age = "unknown age" if status["age_days"] is None else f"{fmt.count(status['age_days'])} days old"
    st.caption(
        f"Price data in use: **{status['label']}** ({status['source']}; {fmt.count(status['models'])} models; "
        f"as of {status['as_of']}, {age}). Update it with `llm-metrics prices update`, then `llm-metrics reprice`."
    )
    if status["stale"]:
        st.warning(
            f"The price data is {status['age_days']} days old (more than {STALE_DAYS}): providers may have "
            "changed their prices since. Run `llm-metrics prices update` and `llm-metrics reprice --dry-run`."
        )
    sources = _sources(f.key, f.window.start, f.window.end, tuple(f.providers) or None, tuple(f.models) or None)
    if not sources:
        st.caption("No calls in this window.")
        return
    frame = pd.DataFrame([{**s, "cost_usd": None if s["cost_usd"] is None else float(s["cost_usd"])} for s in sources])
    st.dataframe(
        frame,
        hide_index=True,
        placeholder="unpriced",
        column_config={
            "price_source": st.column_config.TextColumn(
                "Price source", help="genai-prices:<data version or date>, override:<id>, local or unpriced"
            ),
            "calls": st.column_config.NumberColumn("Calls", format="localized"),
            "cost_usd": st.column_config.NumberColumn("Cost", format="$%.4f"),
        },
    )
