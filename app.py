"""llm-metrics dashboard (minimal first page; the full multipage dashboard builds on it)."""

import streamlit as st

from metrics_core import LLMMetricsService as S
from metrics_core.errors import MetricsError

st.set_page_config(page_title="LLM metrics", page_icon="📈", layout="wide")
st.title("LLM metrics")

try:
    costs = S.get_cost_summary(30)
    usage = S.get_metrics(30)
    providers = S.get_all_providers()
except MetricsError as exc:
    st.error(f"The metrics database cannot be used: {exc}")
    st.stop()

if not costs["total_requests"]:
    st.info("No calls recorded yet. Record one from your code:")
    st.code(
        "from metrics_core import record_request\n"
        "record_request(provider_name='ollama', model='llama3.2', status='success',\n"
        "               prompt_tokens=120, completion_tokens=80, duration_seconds=0.9)",
        language="python",
    )
    st.caption("Or load demo data: `llm-metrics demo --days 90`.")
    st.stop()

st.caption(f"Last 30 days, {costs['window_start']} to {costs['window_end']} (UTC)")
cols = st.columns(5)
cols[0].metric("Requests", f"{usage['total_requests']:,}")
cols[1].metric("Success rate", f"{usage['success_rate']:.1f}%")
cols[2].metric("Spend", f"${costs['total_cost_usd']:,.2f}")
cols[3].metric("Savings", f"${costs['estimated_savings_usd']:,.2f}", f"{costs['savings_percentage']:.1f}%")
cols[4].metric("p95 latency", f"{usage['p95_response_time_ms']:,.0f} ms")
if costs["unpriced_requests"]:
    st.warning(f"{costs['unpriced_requests']} calls have no known price and are not in the totals.")

st.subheader("Providers")
st.dataframe(
    [
        {
            k: p[k]
            for k in (
                "display_name",
                "provider_type",
                "priority",
                "enabled",
                "circuit_state",
                "failure_count",
                "total_requests",
                "avg_response_time_ms",
                "total_cost_usd",
            )
        }
        for p in providers
    ],
    hide_index=True,
)
