"""Usage: calls, tokens, success rate, latency percentiles and time to first token, by provider and model."""

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import charts, data, filters, widgets
from dashboard.widgets import Kpi
from metrics_core import formatting as fmt

f = filters.current()
st.title("Usage")
st.caption(f.describe())

usage = data.metrics(f)
ttft = data.latency_breakdown(f, kind="ttft")
ttft_total = ttft["total"]
ttft_p50 = ttft_total["p50_ms"].iloc[0] if len(ttft_total) else None
widgets.kpi_row(
    [
        Kpi("Requests", fmt.count(usage["total_requests"])),
        Kpi("Success rate", fmt.pct(usage["success_rate"]), help=f"{fmt.count(usage['failed_requests'])} failed"),
        Kpi("Prompt tokens", fmt.compact(usage["total_prompt_tokens"]), help="Every input token, cached ones included"),
        Kpi("Completion tokens", fmt.compact(usage["total_completion_tokens"])),
        Kpi(
            "Cache hits",
            fmt.pct(usage["cache_read_share"]),
            help="Share of prompt tokens read from the provider's cache",
        ),
        Kpi("Median TTFT", fmt.ms(ttft_p50), help="Time to first token, streamed calls only"),
    ]
)


def table(rows: list[dict], ttft: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """The by-provider or by-model rows, with TTFT percentiles joined on."""
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    ttft = ttft.rename(columns={"p50_ms": "ttft_p50_ms", "p95_ms": "ttft_p95_ms"})[
        [*keys, "ttft_p50_ms", "ttft_p95_ms"]
    ]
    frame = frame.merge(ttft, on=keys, how="left")
    return frame[
        [
            *keys,
            "total_requests",
            "success_rate",
            "total_prompt_tokens",
            "total_completion_tokens",
            "cache_read_share",
            "avg_response_time_ms",
            "p50_response_time_ms",
            "p95_response_time_ms",
            "p99_response_time_ms",
            "ttft_p50_ms",
            "ttft_p95_ms",
        ]
    ]


MS = "localized"  # 1,484: the header says ms, the cell stays a sortable number
COLUMNS = {
    "provider": st.column_config.TextColumn("Provider", width=75),
    "model": st.column_config.TextColumn("Model", width=150),
    "total_requests": st.column_config.NumberColumn("Calls", format="localized", width=60),
    "success_rate": st.column_config.NumberColumn("Success", format="%.1f%%", width=65),
    "total_prompt_tokens": st.column_config.NumberColumn("Prompt tok.", format="compact", width=75),
    "total_completion_tokens": st.column_config.NumberColumn("Compl. tok.", format="compact", width=75),
    "cache_read_share": st.column_config.NumberColumn("Cache hits", format="%.1f%%", width=70),
    "avg_response_time_ms": st.column_config.NumberColumn("Avg ms", format=MS, width=60),
    "p50_response_time_ms": st.column_config.NumberColumn("p50 ms", format=MS, width=60),
    "p95_response_time_ms": st.column_config.NumberColumn("p95 ms", format=MS, width=60),
    "p99_response_time_ms": st.column_config.NumberColumn("p99 ms", format=MS, width=60),
    "ttft_p50_ms": st.column_config.NumberColumn("TTFT p50 ms", format=MS, width=85, help="— : no streamed calls"),
    "ttft_p95_ms": st.column_config.NumberColumn("TTFT p95 ms", format=MS, width=85, help="— : no streamed calls"),
}
st.subheader("By provider")
st.dataframe(
    table(usage["by_provider"], ttft["provider"], ["provider"]),
    hide_index=True,
    column_config=COLUMNS,
    placeholder="—",
)
st.subheader("By model")
by_model = table(usage["by_model"], ttft["model"], ["provider", "model"])
st.dataframe(by_model, hide_index=True, column_config=COLUMNS, placeholder="—")
st.caption(
    "Latency covers every call with a duration, failed ones included. Percentiles come from a log-spaced "
    "histogram kept in the daily rollup: within about 1% of the exact value. TTFT: streamed calls only."
)

st.subheader("Latency per day")
per_day = data.latency(f, by="day").rename(columns={"day": "date"})
if per_day.empty:
    st.caption("No calls with a duration in this window.")
else:
    st.altair_chart(
        charts.daily_lines(
            per_day,
            {"p50_ms": "p50", "p95_ms": "p95", "p99_ms": "p99"},
            "ms (log scale)",
            ",.0f",
            scale=alt.Scale(type="log"),
        ),
        width="stretch",
    )
st.subheader("Tokens by model")
if usage["by_model"]:
    st.altair_chart(charts.token_mix(pd.DataFrame(usage["by_model"])), width="stretch")
else:
    st.caption("No calls in this window.")
