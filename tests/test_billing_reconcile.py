"""Recorded vs billed: pulled days stored whole, and coverage and drift against recorded calls.

The fixture: the providers' real-shaped report pages (tests/fixtures/billing, days 2026-11-02..04)
through ``httpx.MockTransport``, and recorded calls that see some of that usage:

- OpenAI ``gpt-4o`` recorded in full on 11-02 and 11-03, priced wrong on purpose by an override
  ($3 / $1.50 cached / $12 per million instead of $2.50 / $1.25 / $10): 100 % coverage, +20 % drift;
- OpenAI ``gpt-4o-mini`` on 11-02: half of each token kind recorded at the list price: 50 %, -50 %;
- a ``localai`` provider priced as OpenAI records ``gpt-4o`` too: it must not count;
- Anthropic ``claude-haiku-4-5`` on 11-02 and ``claude-sonnet-4-5`` on 11-03 recorded in full (0 %);
  ``claude-sonnet-4-5`` on 11-02 not recorded at all (a day the app did not record): 0 %, -100 %;
- Anthropic ``claude-haiku-4-5`` recorded on 11-04, a day the provider billed nothing.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from test_billing_clients import END, FIXTURES, START, Recorder, anthropic_key, openai_key

from metrics_core import record_request, storage
from metrics_core.integrations.billing import BillingUnavailable
from metrics_core.integrations.billing.reconcile import last_days, pull_and_store
from metrics_core.queries import Window
from metrics_core.queries import billing as q
from metrics_core.recording.price_overrides import set_override
from metrics_core.storage import billed

D2, D3, D4 = date(2026, 11, 2), date(2026, 11, 3), date(2026, 11, 4)
WINDOW = Window(D2, D4)


def call(provider: str, model: str, day: date, prompt: int, completion: int, cached: int = 0, times: int = 1) -> None:
    for n in range(times):
        record_request(
            provider_name=provider,
            model=model,
            status="success",
            prompt_tokens=prompt,
            completion_tokens=completion,
            cache_read_tokens=cached,
            timestamp=datetime(day.year, day.month, day.day, 12, n, tzinfo=UTC),
            sync=True,
        )


@pytest.fixture
def recorded(engine):
    with engine.begin() as conn:  # a local OpenAI-compatible server, priced as OpenAI
        conn.execute(
            update(storage.providers).where(storage.providers.c.name == "localai").values(pricing_provider="openai")
        )
    set_override(provider="openai", model="gpt-4o", input_mtok="3", output_mtok="12", cache_read_mtok="1.5")
    call("openai", "gpt-4o", D2, 30_000, 7_500, cached=5_000, times=4)  # 100k + 20k cached, 30k out
    call("openai", "gpt-4o", D3, 40_000, 5_000, times=2)  # 80k, 10k out
    call("openai", "gpt-4o-mini", D2, 125_000, 12_500, cached=25_000, times=2)  # 200k + 50k cached, 25k out
    call("localai", "gpt-4o", D2, 1_000_000, 1_000)
    call("claude", "claude-haiku-4-5", D2, 75_000, 5_000, times=4)  # 300k, 20k out
    call("claude", "claude-sonnet-4-5", D3, 12_345, 2_000)
    call("claude", "claude-haiku-4-5", D4, 1_000, 100)
    return engine


def pull_both(engine) -> None:
    with Recorder().client() as client:
        pull_and_store(provider="openai", start=START, end=END, key=openai_key(), client=client, engine=engine)
    with Recorder().client() as client:
        pull_and_store(provider="anthropic", start=START, end=END, key=anthropic_key(), client=client, engine=engine)


def row(result: dict, provider: str, day: date, model: str) -> dict:
    (found,) = [r for r in result["rows"] if (r["provider"], r["day"], r["model"]) == (provider, day, model)]
    return found


def test_a_pull_stores_each_day_and_matches_dated_names_to_recorded_aliases(recorded) -> None:
    pull_both(recorded)
    b = storage.billed_daily
    with recorded.connect() as conn:
        lines = conn.execute(
            select(b.c.provider, b.c.day, b.c.kind, b.c.billed_model, b.c.recorded_model, b.c.cost_usd).order_by(
                b.c.provider, b.c.day, b.c.kind, b.c.billed_model
            )
        ).all()
        days = conn.execute(select(storage.billed_days.c.provider, storage.billed_days.c.day)).all()
    assert [(p, d, k, m, r, Decimal(c)) for p, d, k, m, r, c in lines] == [
        ("anthropic", D2, "model", "claude-haiku-4-5-20251001", "claude-haiku-4-5", Decimal("0.4")),
        ("anthropic", D2, "model", "claude-sonnet-4-5-20250929", "claude-sonnet-4-5", Decimal("1.7475")),
        ("anthropic", D2, "other", "Web Search Usage", None, Decimal("1.00")),
        ("anthropic", D3, "model", "claude-sonnet-4-5-20250929", "claude-sonnet-4-5", Decimal("0.067035")),
        ("openai", D2, "model", "gpt-4o-2024-08-06", "gpt-4o", Decimal("0.575")),
        ("openai", D2, "model", "gpt-4o-mini-2024-07-18", "gpt-4o-mini", Decimal("0.0975")),
        ("openai", D2, "other", "web search tool calls", None, Decimal("0.02")),
        ("openai", D3, "model", "gpt-4o-2024-08-06", "gpt-4o", Decimal("0.3")),
        ("openai", D3, "other", "text-embedding-3-small (no usage row)", None, Decimal("0.0004")),
    ]
    assert sorted(days) == [(p, d) for p in ("anthropic", "openai") for d in (D2, D3, D4)]


def test_pulling_the_same_days_again_replaces_them(recorded) -> None:
    pull_both(recorded)
    first = q.reconciliation(window=WINDOW, engine=recorded)
    pull_both(recorded)
    with recorded.connect() as conn:
        assert conn.execute(select(func.count()).select_from(storage.billed_daily)).scalar_one() == 9
        assert conn.execute(select(func.count()).select_from(storage.billed_days)).scalar_one() == 6
    assert q.reconciliation(window=WINDOW, engine=recorded) == first


def test_coverage_and_drift_per_day_and_model(recorded) -> None:
    pull_both(recorded)
    result = q.reconciliation(window=WINDOW, engine=recorded)

    wrong_price = row(result, "openai", D2, "gpt-4o")
    assert wrong_price["billed_models"] == ["gpt-4o-2024-08-06"]
    assert (wrong_price["recorded_input_tokens"], wrong_price["billed_input_tokens"]) == (100_000, 100_000)
    assert (wrong_price["recorded_cached_tokens"], wrong_price["billed_cached_tokens"]) == (20_000, 20_000)
    assert (wrong_price["recorded_output_tokens"], wrong_price["billed_output_tokens"]) == (30_000, 30_000)
    assert (wrong_price["recorded_requests"], wrong_price["billed_requests"]) == (4, 40)
    assert wrong_price["coverage_pct"] == Decimal(100)
    # recorded 100k x $3 + 20k x $1.50 + 30k x $12 = $0.69 against $0.575 billed: +$0.115, +20 %
    assert wrong_price["recorded_cost_usd"] == Decimal("0.69")
    assert wrong_price["billed_cost_usd"] == Decimal("0.575")
    assert wrong_price["gap_usd"] == Decimal("0.115")
    assert wrong_price["drift_pct"] == Decimal(20)

    # 80k x $3 + 10k x $12 = $0.36 against $0.30; nothing cached was billed, so that coverage is unknown
    assert row(result, "openai", D3, "gpt-4o")["drift_pct"] == Decimal(20)
    assert row(result, "openai", D3, "gpt-4o")["cached_coverage_pct"] is None

    half = row(result, "openai", D2, "gpt-4o-mini")  # 275k of 550k tokens, $0.04875 of $0.0975
    assert [half[f"{k}_coverage_pct"] for k in ("input", "cached", "output")] == [Decimal(50)] * 3
    assert (half["recorded_tokens"], half["billed_tokens"], half["coverage_pct"]) == (275_000, 550_000, Decimal(50))
    assert (half["recorded_cost_usd"], half["drift_pct"]) == (Decimal("0.04875"), Decimal(-50))

    not_recorded = row(result, "anthropic", D2, "claude-sonnet-4-5")
    assert (not_recorded["recorded_tokens"], not_recorded["billed_tokens"]) == (0, 1_300_000)
    assert (not_recorded["coverage_pct"], not_recorded["drift_pct"]) == (Decimal(0), Decimal(-100))
    assert not_recorded["billed_cache_write_tokens"] == 60_000
    assert not_recorded["billed_requests"] is None  # Anthropic's report counts no requests

    for day, model in ((D2, "claude-haiku-4-5"), (D3, "claude-sonnet-4-5")):
        exact = row(result, "anthropic", day, model)
        assert (exact["coverage_pct"], exact["drift_pct"], exact["gap_usd"]) == (Decimal(100), Decimal(0), Decimal(0))

    never_billed = row(result, "anthropic", D4, "claude-haiku-4-5")
    assert (never_billed["recorded_tokens"], never_billed["billed_tokens"]) == (1_100, 0)
    assert (never_billed["coverage_pct"], never_billed["drift_pct"]) == (None, None)
    assert never_billed["gap_usd"] == Decimal("0.0015")

    assert len(result["rows"]) == 7  # the localai calls are nowhere


def test_the_overall_line_per_provider_includes_other_line_items(recorded) -> None:
    pull_both(recorded)
    anthropic, openai = q.reconciliation(window=WINDOW, engine=recorded)["providers"]

    assert (openai["provider"], openai["days_pulled"]) == ("openai", 3)
    # tokens 150k + 275k + 90k recorded of 150k + 550k + 90k billed
    assert (openai["recorded_tokens"], openai["billed_tokens"]) == (515_000, 790_000)
    assert round(openai["coverage_pct"], 4) == Decimal("65.1899")
    # billed 0.575 + 0.0975 + 0.30 + web search 0.02 + embeddings 0.0004; recorded 0.69 + 0.04875 + 0.36
    assert openai["other_cost_usd"] == Decimal("0.0204")
    assert (openai["recorded_cost_usd"], openai["billed_cost_usd"]) == (Decimal("1.09875"), Decimal("0.9929"))
    assert openai["gap_usd"] == Decimal("0.10585")
    assert round(openai["drift_pct"], 4) == Decimal("10.6607")  # 0.10585 / 0.9929

    assert (anthropic["recorded_tokens"], anthropic["billed_tokens"]) == (335_445, 1_634_345)
    assert round(anthropic["coverage_pct"], 4) == Decimal("20.5247")
    # billed 0.4 + 1.7475 + 0.067035 + web search 1.00; recorded 0.40 + 0.067035 + 0.0015
    assert (anthropic["recorded_cost_usd"], anthropic["billed_cost_usd"]) == (Decimal("0.468535"), Decimal("3.214535"))
    assert round(anthropic["drift_pct"], 4) == Decimal("-85.4245")  # -2.746 / 3.214535


def test_per_day_lines_include_a_pulled_day_without_usage(recorded) -> None:
    pull_both(recorded)
    days = {(d["provider"], d["day"]): d for d in q.reconciliation(window=WINDOW, engine=recorded)["days"]}
    assert len(days) == 6
    assert days[("openai", D2)]["billed_cost_usd"] == Decimal("0.6925")  # 0.575 + 0.0975 + 0.02
    assert days[("openai", D2)]["recorded_cost_usd"] == Decimal("0.73875")  # the localai call costs nothing
    assert days[("openai", D3)]["billed_cost_usd"] == Decimal("0.3004")
    empty = days[("openai", D4)]
    assert (empty["billed_tokens"], empty["billed_cost_usd"], empty["coverage_pct"], empty["drift_pct"]) == (
        0,
        Decimal(0),
        None,
        None,
    )


def test_largest_gaps_order_by_cost_gap_and_leave_out_exact_rows(recorded) -> None:
    pull_both(recorded)
    gaps = q.largest_gaps(q.reconciliation(window=WINDOW, engine=recorded))
    assert [(g["provider"], g["day"], g["model"], g["gap_usd"]) for g in gaps] == [
        ("anthropic", D2, "claude-sonnet-4-5", Decimal("-1.7475")),
        ("openai", D2, "gpt-4o", Decimal("0.115")),
        ("openai", D3, "gpt-4o", Decimal("0.06")),
        ("openai", D2, "gpt-4o-mini", Decimal("-0.04875")),
        ("anthropic", D4, "claude-haiku-4-5", Decimal("0.0015")),
    ]
    with pytest.raises(ValueError, match="limit must be a whole number >= 1"):
        q.largest_gaps({"rows": []}, limit=0)


def test_days_never_pulled_are_not_compared(recorded) -> None:
    result = q.reconciliation(window=WINDOW, engine=recorded)
    assert (result["providers"], result["days"], result["rows"]) == ([], [], [])


def test_the_recorded_side_counts_remote_providers_priced_as_the_billing_provider(recorded) -> None:
    assert q.recorded_providers("openai", engine=recorded) == ["openai"]
    assert q.recorded_providers("anthropic", engine=recorded) == ["claude"]
    with pytest.raises(ValueError, match="provider must be one of openai, anthropic, got 'claude'"):
        q.recorded_providers("claude", engine=recorded)


def test_a_failed_pull_leaves_the_stored_days_untouched(recorded) -> None:
    pull_both(recorded)
    before = q.reconciliation(window=WINDOW, engine=recorded)
    # the usage report's first page arrives, then the second page times out
    usage_page1 = httpx.Response(200, content=(FIXTURES / "openai_usage_page1.json").read_bytes())
    handler = Recorder([usage_page1, httpx.ReadTimeout("read timed out")])
    with handler.client() as client, pytest.raises(BillingUnavailable, match="timed out"):
        pull_and_store(provider="openai", start=START, end=END, key=openai_key(), client=client, engine=recorded)
    assert q.reconciliation(window=WINDOW, engine=recorded) == before


def test_a_failed_write_rolls_back_the_whole_replacement(recorded) -> None:
    pull_both(recorded)
    before = q.reconciliation(window=WINDOW, engine=recorded)
    good = {
        "day": D2,
        "kind": "model",
        "billed_model": "gpt-4o-2024-08-06",
        "recorded_model": "gpt-4o",
        "input_tokens": 1,
        "cached_input_tokens": 0,
        "cache_write_tokens": 0,
        "output_tokens": 1,
        "requests": 1,
        "cost_usd": Decimal("9"),
    }
    with pytest.raises(IntegrityError):  # the same line twice: the insert fails after the deletes
        billed.replace_days(
            recorded, provider="openai", days=[D2, D3], rows=[good, good], pulled_at=datetime(2026, 12, 1)
        )
    assert q.reconciliation(window=WINDOW, engine=recorded) == before


def test_a_day_pulled_again_without_usage_loses_its_rows(recorded) -> None:
    pull_both(recorded)
    billed.replace_days(recorded, provider="openai", days=[D2], rows=[], pulled_at=datetime(2026, 12, 1))
    result = q.reconciliation(window=WINDOW, engine=recorded)
    assert {(r["day"], r["model"]) for r in result["rows"] if r["provider"] == "openai" and r["billed_tokens"]} == {
        (D3, "gpt-4o")
    }
    assert result["providers"][1]["days_pulled"] == 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"provider": "claude"}, "provider must be one of openai, anthropic, got 'claude'"),
        ({"days": []}, "days must name at least one pulled day"),
        ({"rows": [{"day": D2}]}, "a billed row lacks kind, billed_model"),
    ],
)
def test_replace_days_names_bad_arguments(engine, kwargs: dict, message: str) -> None:
    args = {"provider": "openai", "days": [D2], "rows": [], "pulled_at": datetime(2026, 12, 1), **kwargs}
    with pytest.raises(ValueError, match=message):
        billed.replace_days(engine, **args)


def test_last_days_end_today_exclusive() -> None:
    assert last_days(30, today=date(2026, 12, 4)) == (date(2026, 11, 4), date(2026, 12, 4))
    with pytest.raises(ValueError, match="days must be a whole number from 1 to 366"):
        last_days(0)


def test_a_window_ending_after_tomorrow_is_refused(engine) -> None:
    with pytest.raises(ValueError, match="end must be at most tomorrow"):
        pull_and_store(provider="openai", start=date(2100, 1, 1), end=date(2100, 1, 2), key=openai_key())


def test_unknown_costs_on_either_side_give_no_drift(engine) -> None:
    call("openai", "gpt-mystery", D2, 1_000, 100)  # no price anywhere: unpriced
    call("openai", "gpt-4o", D2, 1_000, 100)
    line = {"kind": "model", "cached_input_tokens": 0, "cache_write_tokens": 0, "requests": 1}
    rows = [
        {**line, "day": D2, "billed_model": "gpt-mystery", "recorded_model": "gpt-mystery", "input_tokens": 1_000,
         "output_tokens": 100, "cost_usd": Decimal("0.01")},
        {**line, "day": D2, "billed_model": "gpt-4o-2024-08-06", "recorded_model": "gpt-4o", "input_tokens": 1_000,
         "output_tokens": 100, "cost_usd": None},  # the cost report had no line for it
    ]  # fmt: skip
    billed.replace_days(engine, provider="openai", days=[D2], rows=rows, pulled_at=datetime(2026, 12, 1))
    result = q.reconciliation(window=WINDOW, engine=engine)
    unpriced, no_cost = row(result, "openai", D2, "gpt-mystery"), row(result, "openai", D2, "gpt-4o")
    assert (unpriced["recorded_cost_usd"], unpriced["unpriced_requests"], unpriced["drift_pct"]) == (None, 1, None)
    assert unpriced["coverage_pct"] == Decimal(100)
    assert (no_cost["recorded_cost_usd"], no_cost["billed_cost_usd"], no_cost["drift_pct"]) == (
        Decimal("0.0035"),  # 1,000 x $2.50 + 100 x $10 per million
        None,
        None,
    )
    (overall,) = result["providers"]
    assert (overall["billed_cost_usd"], overall["drift_pct"]) == (None, None)
