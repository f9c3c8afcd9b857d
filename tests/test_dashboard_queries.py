"""The queries added for the dashboard: cache fingerprint, filter choices, percentiles by group,
daily series with a moving average."""

from datetime import UTC, date, datetime, timedelta

import pytest

from metrics_core import demo, queries, record_request
from metrics_core.policy import providers
from metrics_core.queries import Window
from metrics_core.storage import latency_buckets


def at(days_ago: int, hour: int = 12, minute: int = 0, second: int = 0) -> datetime:
    today = datetime.now(UTC).replace(hour=hour, minute=minute, second=second, microsecond=0)
    return today - timedelta(days=days_ago)


def rec(provider="ollama", model="llama3.2", status="success", when=None, **kw):
    record_request(provider_name=provider, model=model, status=status, timestamp=when or at(0, 0), sync=True, **kw)


def test_data_version_changes_with_calls_settings_and_circuits():
    v0 = queries.data_version()
    assert queries.data_version() == v0
    rec()
    v1 = queries.data_version()
    assert v1 != v0
    providers.set_enabled("claude", False)
    v2 = queries.data_version()
    assert v2 != v1
    providers.set_priority("claude", 7)
    assert queries.data_version() != v2


def test_has_calls():
    assert not queries.has_calls()
    rec()
    assert queries.has_calls()


def test_model_names_and_tag_values_come_from_the_window():
    rec("ollama", "llama3.2", when=at(1), tags={"project": "search"})
    rec("claude", "claude-haiku-4-5", when=at(1), tags={"project": "support", "user": "ana"})
    rec("openai", "gpt-4o", when=at(40))
    names = queries.model_names(window=Window.last(7))
    assert list(names.itertuples(index=False, name=None)) == [("claude", "claude-haiku-4-5"), ("ollama", "llama3.2")]
    assert list(queries.model_names(window=Window.last(7), providers=["ollama"])["model"]) == ["llama3.2"]
    tags = queries.tag_values(window=Window.last(7))
    assert list(tags.itertuples(index=False, name=None)) == [
        ("project", "search", 1),
        ("project", "support", 1),
        ("user", "ana", 1),
    ]
    assert list(queries.tag_values(window=Window.last(7), tag_key="user")["tag_value"]) == ["ana"]


def test_latency_percentiles_by_group_match_metrics():
    for i in range(1, 101):
        rec("ollama", "llama3.2", duration_seconds=0.01 * i, when=at(0, 1))
        rec("claude", "claude-haiku-4-5", duration_seconds=0.1 * i, when=at(1, 1), time_to_first_token_seconds=0.01 * i)
    w = Window.last(2)
    m = queries.metrics(window=w)
    total = queries.latency_percentiles(window=w, by="total")
    assert total["calls"].tolist() == [200]
    assert total["p95_ms"].iloc[0] == pytest.approx(m["p95_response_time_ms"], abs=0.1)
    by_provider = queries.latency_percentiles(window=w, by="provider").set_index("provider")
    assert by_provider.loc["ollama", "p50_ms"] == pytest.approx(500, rel=latency_buckets.RELATIVE_ERROR)
    assert by_provider.loc["claude", "p99_ms"] == pytest.approx(9900, rel=latency_buckets.RELATIVE_ERROR)
    by_day = queries.latency_percentiles(window=w, by="day")
    assert [d.date() for d in by_day["day"]] == [at(1).date(), at(0).date()]
    ttft = queries.latency_percentiles(window=w, by="model", kind="ttft")
    assert ttft[["provider", "model", "calls"]].values.tolist() == [["claude", "claude-haiku-4-5", 100]]
    assert ttft["p95_ms"].iloc[0] == pytest.approx(950, rel=latency_buckets.RELATIVE_ERROR)
    with pytest.raises(ValueError, match="by must be one of total, provider, model, day"):
        queries.latency_percentiles(by="week")


def test_daily_series_fills_quiet_days_and_averages_back_before_the_window():
    # 10 calls 8 days ago, none 7..1 days ago, 4 today
    for _ in range(10):
        rec(when=at(8))
    for _ in range(4):
        rec("claude", "claude-haiku-4-5", when=at(0, 3), prompt_tokens=1000, completion_tokens=100)
    daily = queries.daily_series(window=Window.last(3), moving_average=7)
    assert [d.date() for d in daily["date"]] == Window.last(3).dates()
    assert daily["requests"].tolist() == [0, 0, 4]
    # the 7 days ending 2 days ago (8..2 days ago) hold the 10 calls; those ending yesterday, none;
    # today is still running: no average (it would dip because the day is young)
    assert daily["requests_ma"].tolist()[:2] == pytest.approx([10 / 7, 0.0])
    assert daily["requests_ma"].isna().tolist() == [False, False, True]
    assert daily["running"].tolist() == [False, False, True]
    assert daily["tokens"].tolist() == [0, 0, 4400]
    costs = queries.cost_summary(window=Window.last(3))
    assert daily["cost_usd"].sum() == pytest.approx(float(costs["total_cost_usd"]))
    assert daily["savings_usd"].sum() == pytest.approx(float(costs["estimated_savings_usd"]))


def test_daily_series_leaves_days_before_the_first_call_out_of_the_average():
    rec(when=at(2))
    rec(when=at(1))
    rec(when=at(1))
    rec(when=at(0))
    daily = queries.daily_series(window=Window.last(3), moving_average=7)
    assert daily["requests_ma"].tolist()[:2] == [1.0, 1.5]  # not 1/7 and 3/7
    assert daily["requests_ma"].isna().tolist() == [False, False, True]  # today is still running


def test_daily_series_by_provider_has_a_row_per_provider_and_day():
    rec("ollama", when=at(1))
    rec("claude", "claude-haiku-4-5", when=at(0))
    daily = queries.daily_series(window=Window.last(2), by_provider=True)
    assert daily[["provider", "requests"]].values.tolist() == [
        ["claude", 0],
        ["ollama", 1],
        ["claude", 1],
        ["ollama", 0],
    ]


def test_window_helpers_used_by_the_sidebar():
    from dashboard.filters import CUSTOM, LAST_7, LAST_MONTH, THIS_MONTH, TODAY, window_for

    today = date(2026, 3, 15)
    assert window_for(TODAY, today) == Window(today, today)
    assert window_for(LAST_7, today) == Window(date(2026, 3, 9), today)
    assert window_for(THIS_MONTH, today) == Window(date(2026, 3, 1), today)
    assert window_for(LAST_MONTH, today) == Window(date(2026, 2, 1), date(2026, 2, 28))
    assert window_for(CUSTOM, today, (date(2026, 3, 10), date(2026, 3, 2))) == Window(
        date(2026, 3, 2), date(2026, 3, 10)
    )
    assert window_for(CUSTOM, today, (date(2026, 3, 10),)) == Window(date(2026, 3, 10), date(2026, 3, 10))
    with pytest.raises(ValueError, match="unknown date window 'Yesterday'"):
        window_for("Yesterday", today)


def test_latency_breakdown_equals_the_separate_queries(engine):
    demo.load(engine, days=4, per_day=300, seed=5)
    w = Window.last(4)
    for kind in ("duration", "ttft"):
        together = queries.latency_breakdown(window=w, kind=kind, providers=["claude", "ollama"])
        for by in ("total", "provider", "model"):
            alone = queries.latency_percentiles(window=w, by=by, kind=kind, providers=["claude", "ollama"])
            assert together[by].equals(alone), (kind, by)
