"""Aggregates over windows of UTC days: usage, percentiles, trends, the request log."""

from datetime import UTC, date, datetime, timedelta

import pytest

from metrics_core import queries, record_request
from metrics_core.queries import Window
from metrics_core.storage import latency_buckets


def at(days_ago: int, hour: int = 12) -> datetime:
    today = datetime.now(UTC).replace(hour=hour, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days_ago)


def rec(provider="ollama", model="llama3.2", status="success", when=None, **kw):
    record_request(provider_name=provider, model=model, status=status, timestamp=when or at(0, 0), **kw)


def test_window_is_whole_utc_days_including_today():
    w = Window.last(7, today=date(2026, 11, 29))
    assert (w.start, w.end, w.days) == (date(2026, 11, 23), date(2026, 11, 29), 7)
    assert w.previous() == Window(date(2026, 11, 16), date(2026, 11, 22))
    with pytest.raises(ValueError, match="days must be a whole number >= 1"):
        Window.last(0)


def test_metrics_only_count_calls_inside_the_window():
    rec(when=at(0), prompt_tokens=1)
    rec(when=at(6), prompt_tokens=10)
    rec(when=at(7), prompt_tokens=100)  # eight days ago counting today: outside days=7
    assert queries.metrics(7)["total_prompt_tokens"] == 11
    assert queries.metrics(8)["total_prompt_tokens"] == 111
    assert queries.metrics(1)["total_prompt_tokens"] == 1


def test_percentiles_cover_failed_calls_and_are_within_one_percent():
    durations = [0.1 * i for i in range(1, 101)]  # 100 ms .. 10 s
    for i, d in enumerate(durations):
        rec(status="failed" if i % 10 == 0 else "success", duration_seconds=d)
    m = queries.metrics(1)
    # nearest rank: p50 = 50th value = 5.0 s, p95 = 9.5 s, p99 = 9.9 s
    assert m["p50_response_time_ms"] == pytest.approx(5000, rel=latency_buckets.RELATIVE_ERROR)
    assert m["p95_response_time_ms"] == pytest.approx(9500, rel=latency_buckets.RELATIVE_ERROR)
    assert m["p99_response_time_ms"] == pytest.approx(9900, rel=latency_buckets.RELATIVE_ERROR)
    assert m["avg_response_time_ms"] == pytest.approx(5050.0)


def test_breakdowns_by_provider_and_model_and_filters():
    rec("ollama", "llama3.2", duration_seconds=1.0, prompt_tokens=5)
    rec("ollama", "qwen", duration_seconds=3.0, prompt_tokens=7)
    rec("claude", "claude-sonnet-4-5", status="timeout", duration_seconds=30.0)
    m = queries.metrics(1)
    assert [(p["provider"], p["total_requests"]) for p in m["by_provider"]] == [("ollama", 2), ("claude", 1)]
    claude = next(p for p in m["by_provider"] if p["provider"] == "claude")
    assert (claude["success_rate"], claude["failed_requests"]) == (0.0, 1)
    assert {(r["provider"], r["model"]) for r in m["by_model"]} == {
        ("ollama", "llama3.2"),
        ("ollama", "qwen"),
        ("claude", "claude-sonnet-4-5"),
    }
    only = queries.metrics(1, providers=["ollama"], models=["qwen"])
    assert (only["total_requests"], only["total_prompt_tokens"]) == (1, 7)


def test_time_to_first_token_average():
    rec(duration_seconds=2.0, time_to_first_token_seconds=0.5)
    rec(duration_seconds=2.0, time_to_first_token_seconds=0.3)
    rec(duration_seconds=2.0)
    assert queries.metrics(1)["avg_ttft_ms"] == pytest.approx(400.0)


def test_trends_have_every_day_and_zero_quiet_days():
    rec(when=at(2), prompt_tokens=3, completion_tokens=4)
    t = queries.trends(5)
    assert [d["requests"] for d in t["daily"]] == [0, 0, 1, 0, 0]
    assert t["daily"][2]["date"] == at(2).date().isoformat()
    assert [(r["date"], r["provider"], r["prompt_tokens"]) for r in t["by_provider"]] == [
        (at(2).date().isoformat(), "ollama", 3)
    ]


def test_request_log_filters_and_pages_in_sql():
    for i in range(25):
        rec(
            status="failed" if i % 5 == 0 else "success",
            prompt_tokens=i,
            when=at(0, 0) + timedelta(minutes=i),
            error_message="rate limit hit" if i % 5 == 0 else None,
            tags={"project": "a" if i < 10 else "b"},
        )
    page = queries.request_log(limit=10, offset=0)
    assert page["prompt_tokens"].tolist() == list(range(24, 14, -1))  # newest first
    assert queries.request_log(limit=10, offset=20)["prompt_tokens"].tolist() == [4, 3, 2, 1, 0]
    assert queries.request_count(statuses=["failed"]) == 5
    assert queries.request_count(error_contains="RATE LIMIT") == 5
    assert queries.request_count(tag=("project", "a")) == 10
    assert queries.request_count(error_contains="100%_") == 0  # LIKE wildcards are escaped


def test_daily_frame_and_latency_frame():
    rec(duration_seconds=1.0, prompt_tokens=5)
    frame = queries.daily_frame(1)
    assert frame[["provider", "model", "requests", "prompt_tokens"]].values.tolist() == [["ollama", "llama3.2", 1, 5]]
    hist = queries.latency_frame(1)
    assert hist["count"].tolist() == [1]
    assert hist["bucket_ms"].iloc[0] == pytest.approx(1000, rel=latency_buckets.RELATIVE_ERROR)
