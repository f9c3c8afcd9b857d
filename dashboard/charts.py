"""Altair charts shared by the pages.

Readable in Streamlit's light and dark themes: no fixed text, axis or background colors (the
``streamlit`` theme supplies them), mid-tone series colors that hold up on white and on near-black,
and one color per provider everywhere, whatever the filters (the domain is every provider known).
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from metrics_core.formatting import PROVIDER_PALETTE, axis_spec, provider_colors

PALETTE = list(PROVIDER_PALETTE)
NEUTRAL = "#8c8c8c"  # averages and references: grey reads on both themes
HEIGHT = 300

MEASURES = {
    # measure -> (axis title, tooltip/axis format)
    "requests": ("Requests", ",.0f"),
    "tokens": ("Tokens", ".3~s"),
    "cost_usd": ("Cost (USD)", "$,.2f"),
}


def provider_color(names: list[str], field: str = "provider", title: str = "Provider") -> alt.Color:
    """The same color for a provider on every chart (``names``: every provider, in a fixed order)."""
    colors = provider_colors(names)
    return alt.Color(
        f"{field}:N", title=title, scale=alt.Scale(domain=names, range=colors), legend=alt.Legend(orient="bottom")
    )


def stacked_daily(
    by_provider: pd.DataFrame, totals: pd.DataFrame, measure: str, names: list[str], moving_average: int = 7
) -> alt.LayerChart:
    """Daily bars stacked by provider, with the total's trailing moving average as a dashed line."""
    title, fmt = MEASURES[measure]
    bars = (
        alt.Chart(by_provider)
        .mark_bar()
        .encode(
            x=alt.X("yearmonthdate(date):T", title=None, axis=alt.Axis(format="%-d %b", labelAngle=0)),
            y=alt.Y(f"{measure}:Q", title=title, stack="zero", axis=alt.Axis(**axis_spec(fmt, totals[measure]))),
            color=provider_color(names),
            order=alt.Order("provider:N"),
            tooltip=[
                alt.Tooltip("yearmonthdate(date):T", title="Day"),
                alt.Tooltip("provider:N", title="Provider"),
                alt.Tooltip(f"{measure}:Q", title=title, format=fmt),
            ],
        )
    )
    line = (
        alt.Chart(totals)
        .mark_line(color=NEUTRAL, strokeDash=[6, 3], strokeWidth=2.5)
        .encode(
            x="yearmonthdate(date):T",
            y=alt.Y(f"{measure}_ma:Q"),
            tooltip=[
                alt.Tooltip("yearmonthdate(date):T", title="Day"),
                alt.Tooltip(f"{measure}:Q", title=f"{title}, all providers", format=fmt),
                alt.Tooltip(f"{measure}_ma:Q", title=f"{moving_average}-day average", format=fmt),
            ],
        )
    )
    return alt.layer(bars, line).properties(height=HEIGHT)


def actual_vs_reference(frame: pd.DataFrame, category: str, reference_model: str) -> alt.Chart:
    """Grouped bars: actual cost next to what the same calls would cost on the reference model."""
    long = frame.melt(
        id_vars=[category],
        value_vars=["total_cost_usd", "hypothetical_claude_cost_usd"],
        var_name="kind",
        value_name="usd",
    )
    names = {"total_cost_usd": "Actual cost", "hypothetical_claude_cost_usd": f"On {reference_model}"}
    long["kind"] = long["kind"].map(names)
    return (
        alt.Chart(long)
        .mark_bar()
        .encode(
            y=alt.Y(f"{category}:N", title=None, sort="-x"),
            x=alt.X("usd:Q", title="USD", axis=alt.Axis(**axis_spec("$,.2f", long["usd"]))),
            yOffset=alt.YOffset("kind:N", sort=list(names.values())),
            color=alt.Color(
                "kind:N",
                title=None,
                sort=list(names.values()),
                scale=alt.Scale(range=[PALETTE[0], NEUTRAL]),
                legend=alt.Legend(orient="bottom"),
            ),
            tooltip=[
                alt.Tooltip(f"{category}:N"),
                alt.Tooltip("kind:N", title="What"),
                alt.Tooltip("usd:Q", title="USD", format="$,.4f"),
            ],
        )
        .properties(height=alt.Step(14, **{"for": "offset"}))
    )


def daily_lines(
    frame: pd.DataFrame,
    series: dict[str, str],
    y_title: str,
    fmt: str,
    colors: list[str] | None = None,
    scale: alt.Scale | None = None,
) -> alt.Chart:
    """Lines over days: ``series`` maps column -> legend name."""
    long = frame.melt(id_vars=["date"], value_vars=list(series), var_name="series", value_name="value")
    long["series"] = long["series"].map(series)
    order = list(series.values())
    return (
        alt.Chart(long)
        .mark_line(point=alt.OverlayMarkDef(size=18))
        .encode(
            x=alt.X("yearmonthdate(date):T", title=None, axis=alt.Axis(format="%-d %b", labelAngle=0)),
            y=alt.Y(
                "value:Q", title=y_title, axis=alt.Axis(**axis_spec(fmt, long["value"])), scale=scale or alt.Scale()
            ),
            color=alt.Color(
                "series:N",
                title=None,
                sort=order,
                scale=alt.Scale(domain=order, range=colors or PALETTE[: len(order)]),
                legend=alt.Legend(orient="bottom"),
            ),
            tooltip=[
                alt.Tooltip("yearmonthdate(date):T", title="Day"),
                alt.Tooltip("series:N", title=None),
                alt.Tooltip("value:Q", title=y_title, format=fmt),
            ],
        )
        .properties(height=HEIGHT)
    )


def availability(frame: pd.DataFrame, names: list[str]) -> alt.Chart:
    """A day-by-provider grid, colored by the share of the day the provider's circuit was not open."""
    low = min(95.0, float(frame["availability_pct"].min()) if len(frame) else 95.0)
    order = [n for n in names if n in set(frame["provider"])]
    return (
        alt.Chart(frame)
        .mark_rect(cornerRadius=2, stroke=None)
        .encode(
            x=alt.X(
                "yearmonthdate(date):O", title=None, axis=alt.Axis(format="%-d %b", labelAngle=-45, labelOverlap=True)
            ),
            y=alt.Y("provider:N", title=None, sort=order),
            color=alt.Color(
                "availability_pct:Q",
                title="Available %",
                scale=alt.Scale(domain=[low, 100], scheme="redyellowgreen", clamp=True),
                legend=alt.Legend(orient="bottom", format=".0f"),
            ),
            tooltip=[
                alt.Tooltip("yearmonthdate(date):T", title="Day"),
                alt.Tooltip("provider:N"),
                alt.Tooltip("availability_pct:Q", title="Available %", format=".2f"),
                alt.Tooltip("open_minutes:Q", title="Circuit open (min)", format=",.0f"),
                alt.Tooltip("transitions:Q", title="Circuit transitions"),
            ],
        )
        .properties(height=alt.Step(30))
    )


def bars(
    frame: pd.DataFrame,
    category: str,
    value: str,
    title: str,
    fmt: str,
    color: alt.Color | None = None,
    tooltip: list | None = None,
) -> alt.Chart:
    """Horizontal bars, largest first."""
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            y=alt.Y(f"{category}:N", title=None, sort="-x"),
            x=alt.X(f"{value}:Q", title=title, axis=alt.Axis(**axis_spec(fmt, frame[value]))),
            color=color if color is not None else alt.value(PALETTE[0]),
            tooltip=tooltip or [alt.Tooltip(f"{category}:N"), alt.Tooltip(f"{value}:Q", title=title, format=fmt)],
        )
        .properties(height=alt.Step(26))
    )


def token_mix(frame: pd.DataFrame) -> alt.Chart:
    """Per model: uncached prompt, cache-read, cache-write and completion tokens, stacked."""
    parts = {
        "uncached_prompt": "Prompt (uncached)",
        "cache_read_tokens": "Prompt (cache read)",
        "cache_write_tokens": "Prompt (cache write)",
        "total_completion_tokens": "Completion",
    }
    frame = frame.assign(
        uncached_prompt=frame["total_prompt_tokens"] - frame["cache_read_tokens"] - frame["cache_write_tokens"]
    )
    long = frame.melt(id_vars=["model"], value_vars=list(parts), var_name="part", value_name="tokens")
    long["part"] = long["part"].map(parts)
    order = list(parts.values())
    return (
        alt.Chart(long)
        .mark_bar()
        .encode(
            y=alt.Y("model:N", title=None, sort="-x"),
            x=alt.X("sum(tokens):Q", title="Tokens", axis=alt.Axis(format=".2~s")),
            color=alt.Color(
                "part:N",
                title=None,
                sort=order,
                scale=alt.Scale(domain=order, range=PALETTE[:4]),
                legend=alt.Legend(orient="bottom", columns=4),
            ),
            order=alt.Order("part_order:Q"),
            tooltip=[
                alt.Tooltip("model:N"),
                alt.Tooltip("part:N", title="Tokens"),
                alt.Tooltip("sum(tokens):Q", title="Count", format=",.0f"),
            ],
        )
        .transform_calculate(part_order=f"indexof({order!r}, datum.part)")
        .properties(height=alt.Step(30))
    )
