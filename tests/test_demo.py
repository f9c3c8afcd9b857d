"""Demo data: deterministic, realistic, and fast enough to make a million calls."""

from datetime import UTC, datetime

from metrics_core import demo, queries

NOW = datetime(2026, 11, 29, 18, 0, tzinfo=UTC)


def test_same_seed_same_calls():
    assert demo.generate(5, 100, seed=7, now=NOW) == demo.generate(5, 100, seed=7, now=NOW)
    assert demo.generate(5, 100, seed=7, now=NOW) != demo.generate(5, 100, seed=8, now=NOW)


def test_demo_has_local_majority_an_outage_and_unpriced_calls(engine):
    n = demo.load(engine, days=40, per_day=300, now=NOW)
    assert n == queries.request_count()
    window = queries.Window(datetime(2026, 10, 21).date(), NOW.date())
    costs = queries.cost_summary(window=window)
    assert costs["total_requests"] == n
    assert costs["local_requests"] > 0.6 * n
    assert costs["unpriced_requests"] > 0
    assert costs["total_cost_usd"] > 0
    events = queries.circuit_events()
    assert ["openai", "closed", "open"] in events[["provider", "from_state", "to_state"]].values.tolist()
    assert events.iloc[-1]["to_state"] == "closed"  # the outage is over
    statuses = set(queries.request_log(limit=n)["status"])
    assert statuses == {"success", "failed", "timeout", "rate_limited", "cancelled"}


def test_progress_is_reported(engine):
    seen = []
    demo.load(engine, days=3, per_day=100, now=NOW, batch_size=100, progress=lambda done, total: seen.append(done))
    assert seen == sorted(seen) and seen[-1] == queries.request_count() and len(seen) > 1
