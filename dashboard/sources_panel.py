"""The Costs page's usage-completeness note: sources whose calls lack cached tokens, so cost may be overstated."""

from __future__ import annotations

import streamlit as st

from metrics_core.queries import sources


def show(f) -> None:
    """Warn, for the filters' window, about each source that recorded calls without cached tokens."""
    for note in sources.overstatement_notes(window=f.window):
        st.warning(
            f"{note[0].upper()}{note[1:]}: its calls' cached input is priced as fresh input. "
            "Record them with `instrument()` or an instrumentation that sends "
            "`gen_ai.usage.cache_read.input_tokens` for exact cost."
        )
