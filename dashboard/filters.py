"""The shared sidebar: date window, provider and model filters, auto-refresh.

``app.py`` draws it on every run, before the page, so its widgets (and their values) live as
long as the session whichever page is open; pages read the result with ``current()``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import streamlit as st
from sqlalchemy.engine import make_url

from metrics_core import clock, queries
from metrics_core import formatting as fmt
from metrics_core.queries import Window

from . import data, shell

TODAY, LAST_7, LAST_30, LAST_90, THIS_MONTH, LAST_MONTH, CUSTOM = (
    "Today",
    "Last 7 days",
    "Last 30 days",
    "Last 90 days",
    "This month",
    "Last month",
    "Custom range",
)
PRESETS = (TODAY, LAST_7, LAST_30, LAST_90, THIS_MONTH, LAST_MONTH, CUSTOM)
DEFAULT_PRESET = LAST_30
REFRESH_CHOICES = {"Off": 0, "Every 30 s": 30, "Every minute": 60, "Every 5 minutes": 300}

# session_state keys of the sidebar widgets
WINDOW_KEY, RANGE_KEY, PROVIDERS_KEY, MODELS_KEY, REFRESH_KEY = (
    "filter_window",
    "filter_range",
    "filter_providers",
    "filter_models",
    "filter_refresh",
)
_FILTERS = "_filters"
_LAST_FULL_RUN = "_last_full_run"


@dataclass(frozen=True)
class Filters:
    """What the sidebar selected: a window of whole UTC days, providers and models (empty = all)."""

    window: Window
    providers: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    label: str = DEFAULT_PRESET
    key: tuple = field(default=(), compare=False)  # (database URL, data version): cache key

    @property
    def start_datetime(self) -> datetime:
        return datetime.combine(self.window.start, datetime.min.time())

    @property
    def end_datetime(self) -> datetime:
        """Midnight after the window's last day (exclusive)."""
        return datetime.combine(self.window.end + timedelta(days=1), datetime.min.time())

    @property
    def comparison(self) -> queries.Comparison:
        """What the deltas compare: complete days only (``metrics_core.queries.comparison``)."""
        return queries.comparison(self.window)

    def previous_label(self) -> str:
        """What the deltas compare with, for ``delta_description``."""
        current = self.comparison.current
        if current is None:
            return "nothing yet"
        # short: it sits next to the delta; the caption under the KPIs says that today is left out
        return "the day before" if current.days == 1 else f"the {current.days} days before"

    def describe(self) -> str:
        w = self.window
        span = _day(w.start, year=True) if w.days == 1 else f"{_day(w.start)} – {_day(w.end, year=True)}"
        parts = [f"{self.label}: {span} ({w.days} day{'s' if w.days > 1 else ''}, UTC)"]
        parts.append("providers: " + (", ".join(map(fmt.md, self.providers)) if self.providers else "all"))
        if self.models:
            parts.append("models: " + ", ".join(map(fmt.md, self.models)))
        return " · ".join(parts)


def _day(d: date, year: bool = False) -> str:
    return f"{d.day} {d:%b}" + (f" {d.year}" if year else "")


def window_for(preset: str, today: date, custom: tuple[date, ...] = ()) -> Window:
    """The window a preset stands for on ``today`` (``custom``: the picked start and end)."""
    if preset == TODAY:
        return Window(today, today)
    if preset in (LAST_7, LAST_30, LAST_90):
        return Window.last(int(preset.split()[1]), today)
    if preset == THIS_MONTH:
        return Window(today.replace(day=1), today)
    if preset == LAST_MONTH:
        end = today.replace(day=1) - timedelta(days=1)
        return Window(end.replace(day=1), end)
    if preset == CUSTOM:
        if len(custom) == 2:
            return Window(min(custom), max(custom))
        if len(custom) == 1:  # the second date is not picked yet
            return Window(custom[0], custom[0])
        return Window.last(30, today)
    raise ValueError(f"unknown date window {preset!r}; choices: {', '.join(PRESETS)}")


def _keep_valid(key: str, options: list[str]) -> None:
    """Drop selections that are no longer options (a provider renamed, a database switched)."""
    chosen = st.session_state.get(key)
    if chosen and any(c not in options for c in chosen):
        st.session_state[key] = [c for c in chosen if c in options]


def sidebar(key: tuple, providers: list[dict]) -> Filters:
    """Draw the sidebar filters; return (and remember for ``current()``) what they select."""
    today = clock.today()
    names = [p["name"] for p in providers]
    labels = {p["name"]: p["display_name"] for p in providers}
    with st.sidebar:
        st.subheader("Filters")
        preset = st.selectbox(
            "Date window", PRESETS, index=PRESETS.index(DEFAULT_PRESET), key=WINDOW_KEY, persist_state="session"
        )
        custom: tuple[date, ...] = ()
        if preset == CUSTOM:
            picked = st.date_input(
                "From – to (UTC days)",
                value=(today - timedelta(days=29), today),
                max_value=today,
                key=RANGE_KEY,
                persist_state="session",
            )
            custom = tuple(picked) if isinstance(picked, (tuple, list)) else (picked,)
        window = window_for(preset, today, custom)
        _keep_valid(PROVIDERS_KEY, names)
        chosen = st.multiselect(
            "Providers",
            names,
            format_func=lambda n: labels.get(n, n),
            key=PROVIDERS_KEY,
            placeholder="All providers",
            persist_state="session",
        )
        probe = Filters(window, tuple(chosen), key=key)
        selected_models = st.session_state.get(MODELS_KEY) or []
        models = sorted(set(data.model_names(probe, window, tuple(chosen))) | set(selected_models))
        picked_models = st.multiselect(
            "Models", models, key=MODELS_KEY, placeholder="All models", persist_state="session"
        )
        refresh = st.selectbox("Auto-refresh", list(REFRESH_CHOICES), key=REFRESH_KEY, persist_state="session")
        st.button("Refresh now", on_click=data.invalidate, help="Read everything again from the database")
        st.caption(f"Database: `{make_url(key[0]).render_as_string(hide_password=True)}`  \nAll times are UTC.")
    filters = Filters(window, tuple(chosen), tuple(picked_models), preset, key)
    st.session_state[_FILTERS] = filters
    auto_refresh(REFRESH_CHOICES[refresh])
    return filters


def current() -> Filters:
    """The filters the sidebar selected on this run. Every page starts with this call: it also makes
    sure the page runs inside ``app.py`` (see ``shell.require_frame``)."""
    shell.require_frame()
    filters = st.session_state.get(_FILTERS)
    if filters is None:
        filters = Filters(Window.last(30), key=data.version())
        st.session_state[_FILTERS] = filters
    return filters


def auto_refresh(seconds: int) -> None:
    """Rerun the whole app every ``seconds`` (0 = off): a timer fragment that triggers full reruns."""
    st.session_state[_LAST_FULL_RUN] = time.monotonic()
    if not seconds:
        return

    @st.fragment(run_every=seconds)
    def _tick() -> None:
        if time.monotonic() - st.session_state.get(_LAST_FULL_RUN, 0.0) >= seconds * 0.95:
            st.rerun()

    with st.sidebar:
        _tick()
