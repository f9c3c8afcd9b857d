"""The writer's fast path writes exactly what the straightforward one computes: prices from
``pricing.price_call``/``reference_cost`` and rollups from ``rollups.aggregate`` over dict rows."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metrics_core import config, pricing, storage
from metrics_core.recording import batch, registry
from metrics_core.recording.redact import clean_error
from metrics_core.storage import rollups

MODELS = [
    ("anthropic", "claude-sonnet-4-5"),  # long-context tier
    ("anthropic", "claude-haiku-4-5"),
    ("openai", "gpt-4o-mini"),
    ("openai", "gpt-5"),  # service tiers (from 2026-10-12), web searches
    ("openai", "gpt-realtime"),  # audio tokens
    ("perplexity", "sonar-deep-research"),  # reasoning priced apart
    ("google", "gemini-2.5-pro"),  # tiers
    ("deepseek", "deepseek-chat"),  # off-peak hours (time-of-day prices)
    ("openai", "no-such-model"),
    (None, "whatever"),
]


def _genai(pricing_provider, name, usage, at):
    """genai-prices itself, None where it has no price."""
    try:
        return pricing.genai_price(pricing_provider, name, usage, at) if pricing_provider else None
    except LookupError:
        return None


@settings(max_examples=300, deadline=None)
@given(
    model=st.sampled_from(MODELS),
    minutes=st.integers(0, 60 * 24 * 400),
    pt=st.integers(0, 400_000),
    ct=st.integers(0, 300_000),
    cache=st.tuples(st.floats(0, 1), st.floats(0, 1)),
    parts=st.tuples(st.floats(0, 1), st.floats(0, 1), st.floats(0, 1), st.integers(0, 30)),
    tier=st.sampled_from([None, None, "default", "priority", "flex", "batch"]),
)
def test_pricer_equals_catalog_price(model, minutes, pt, ct, cache, parts, tier):
    pricing_provider, name = model
    at = datetime(2025, 1, 1) + timedelta(minutes=minutes, seconds=minutes % 60, microseconds=minutes % 999_983)
    cr = int(pt * cache[0] * 0.5)
    cw = int((pt - cr) * cache[1] * 0.5)
    rt = int(ct * parts[0])
    details = {
        "cache_write_1h_tokens": int(cw * parts[1]),
        "input_audio_tokens": int((pt - cr - cw) * parts[2]),
        "web_searches": parts[3],
    }
    details = {k: v for k, v in details.items() if v} or None
    usage = pricing.TokenUsage(pt, ct, cr, cw, rt, tier, details)
    expected = _genai(pricing_provider, name, usage, at)
    assert pricing.catalog_price(pricing_provider, name, usage, at) == expected
    got = pricing.Pricer().catalog(
        pricing_provider, name, at.isoformat(" ", "microseconds"), pt, ct, cr, cw, rt, tier, details
    )
    warm = pricing.Pricer()
    warm.catalog(
        pricing_provider, name, at.replace(second=0, microsecond=0).isoformat(" ", "microseconds"), 1, 1, 0, 0, 0, tier
    )
    assert got == expected
    assert (
        warm.catalog(pricing_provider, name, at.isoformat(" ", "microseconds"), pt, ct, cr, cw, rt, tier, details)
        == expected
    )


@settings(max_examples=2000, deadline=None)
@given(
    t0=st.one_of(
        st.floats(0, 4e9, allow_nan=False),
        st.integers(0, 4 * 10**15).map(lambda us: us / 1e6),
        st.integers(0, 4 * 10**9).map(lambda s: s + 0.9999995),
    )
)
def test_call_time_text_equals_fromtimestamp(t0):
    item = ("ollama", "m", "success", None, 0, 0, 0, 0, 0, None, None, None, None, None, t0, None, None, True)
    values, _, _ = batch.prepare([item], {"ollama": (1, "local", None)}, {}, pricing.Pricer(), config.settings(), True)
    expected = datetime.fromtimestamp(t0, UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
    assert values[0][0] == expected


def test_time_of_day_prices_are_cached_per_minute_only_when_aligned():
    assert pricing.minute_aligned("deepseek", "deepseek-chat")
    assert pricing.minute_aligned("anthropic", "claude-sonnet-4-5")


def _items(n: int, seed: int = 3) -> list[tuple]:
    rnd = random.Random(seed)
    names = [
        ("claude", "claude-sonnet-4-5"),
        ("claude", "claude-haiku-4-5"),
        ("openai", "gpt-4o-mini"),
        ("ollama", "llama3"),
        ("acme", "m-over"),
        ("openai", "no-such-model"),
        ("deepseek", "deepseek-chat"),
    ]
    base = datetime(2026, 3, 30, 22, 0, tzinfo=UTC).timestamp()
    items = []
    for i in range(n):
        name, model = rnd.choice(names)
        pt = rnd.choice([0, 7, 250_000, rnd.randint(0, 9000)])
        ct = rnd.randint(0, 3000)
        cr = rnd.randint(0, pt // 2) if rnd.random() < 0.3 else 0
        cw = rnd.randint(0, (pt - cr) // 3) if rnd.random() < 0.2 else 0
        rt = rnd.randint(0, ct) if rnd.random() < 0.2 else 0
        dur = None if rnd.random() < 0.1 else rnd.choice([0.0, rnd.random() * 5])
        ttft = None if rnd.random() < 0.6 else rnd.random()
        err = None if rnd.random() < 0.8 else rnd.choice(["boom sk-ant-abcdefghijklmnop", "x" * 1500, "é"])
        tags = None if rnd.random() < 0.5 else {k: rnd.choice(["a", "ü"]) for k in rnd.sample(["p", "u", "f"], 2)}
        t0 = base + rnd.random() * 2 * 86400
        ts = None if i % 4 else datetime.fromtimestamp(t0 - 7200, timezone(timedelta(hours=rnd.choice([-5, 9]))))
        status = rnd.choice(["success", "success", "failed", "timeout", "cancelled"])
        tier = rnd.choice([None, None, "default", "priority", "flex", "batch"])
        details = None if rnd.random() < 0.6 else {"cache_write_1h_tokens": cw // 2, "web_searches": rnd.randint(1, 9)}
        known = rnd.random() > 0.05
        if not known:
            pt = ct = cr = cw = rt = 0
            details = None
        items.append(
            (
                name,
                model,
                status,
                "/x" if i % 2 else None,
                pt,
                ct,
                cr,
                cw,
                rt,
                dur,
                ttft,
                err,
                tags,
                ts,
                t0,
                tier,
                details,
                known,
            )
        )
    return items


def _reference(items, known, overrides, cfg):
    """The rows and aggregates the straightforward path gives (what the writer did before)."""
    rows, tags = [], []
    for name, model, status, endpoint, pt, ct, cr, cw, rt, dur, ttft, err, t, ts, t0, tier, details, ok in items:
        pid, ptype, pp = known[name]
        at = (ts or datetime.fromtimestamp(t0, UTC)).astimezone(UTC).replace(tzinfo=None)
        usage = pricing.TokenUsage(pt, ct, cr, cw, rt, tier, details) if ok else None
        override = overrides.get((name, model)) or overrides.get(("*", model))
        price = pricing.price_call(
            provider_type=ptype, pricing_provider=pp, model=model, usage=usage, timestamp=at, override=override
        )
        rows.append(
            {
                "timestamp": at,
                "provider_id": pid,
                "model": model,
                "status": status,
                "endpoint": endpoint,
                "prompt_tokens": pt,
                "completion_tokens": ct,
                "cache_read_tokens": cr,
                "cache_write_tokens": cw,
                "reasoning_tokens": rt,
                "duration_ms": None if dur is None else dur * 1000.0,
                "ttft_ms": None if ttft is None else ttft * 1000.0,
                "cost_usd": price.cost_usd,
                "reference_cost_usd": pricing.reference_cost(
                    usage, at, provider=cfg.reference_provider, model=cfg.reference_model
                ),
                "price_source": price.source,
                "error_message": clean_error(err, cfg.error_max_chars),
                "tags": json.dumps(t, sort_keys=True, ensure_ascii=False) if t else None,
                "service_tier": tier,
                "usage_details": json.dumps(details, sort_keys=True) if details else None,
                "usage_known": ok,
            }
        )
        tags.append(t)
    return rows, rollups.aggregate(rows, tags)


@pytest.mark.parametrize("sqlite", [True, False], ids=["sqlite", "other"])
def test_prepared_rows_and_rollups_equal_the_straightforward_path(sqlite):
    known = {
        "claude": (3, "remote", "anthropic"),
        "openai": (4, "remote", "openai"),
        "ollama": (1, "local", None),
        "acme": (5, "remote", "acme"),
        "deepseek": (6, "remote", "deepseek"),
    }
    overrides = {("acme", "m-over"): pricing.PriceOverride(Decimal("1.5"), Decimal("7"), Decimal("0.1"), None, 7)}
    cfg = config.settings()
    items = _items(3000)
    values, groups, tag_groups = batch.prepare(items, known, overrides, pricing.Pricer(), cfg, sqlite)
    agg, _ = batch.aggregate(groups, tag_groups)
    rows, expected = _reference(items, known, overrides, cfg)
    columns = [c.name for c in storage.requests.columns if c.name != "id"]
    assert list(batch.COLUMNS) == columns
    for got, row in zip(values, rows, strict=True):
        want = [row[c] for c in columns]
        want[0] = want[0].isoformat(" ", "microseconds")
        if sqlite:
            want[12] = None if want[12] is None else float(want[12])
            want[13] = None if want[13] is None else float(want[13])
        assert list(got) == want
        assert [type(v) for v in got] == [type(v) for v in want]
    assert agg.daily == expected.daily
    assert agg.tag_daily == expected.tag_daily
    assert dict(agg.hist) == dict(expected.hist)
    # to the last bit: the same floats, the same Decimal values
    for key, measures in expected.daily.items():
        assert [repr(float(v)) for v in measures] == [repr(float(v)) for v in agg.daily[key]]


def _rollup_tables(engine) -> dict:
    tables = {}
    with engine.connect() as conn:
        for table in (storage.costs_daily, storage.tag_costs_daily, storage.latency_daily):
            keys = [c.name for c in table.primary_key.columns]
            tables[table.name] = {
                tuple(row[k] for k in keys): {k: v for k, v in row.items() if k not in keys}
                for row in (r._asdict() for r in conn.execute(table.select()))
            }
    return tables


def test_rollups_written_by_the_writer_equal_a_rebuild_from_raw_rows(engine):
    """The incremental rollups (SQLite upserts straight to the driver, batch after batch) hold what
    ``rollups.rebuild`` computes from the raw rows afterwards."""
    items = [it for it in _items(4000, seed=11) if it[0] != "acme"]
    providers, overrides, pricer = registry.ProviderCache(), {}, pricing.Pricer()
    for start in range(0, len(items), 333):
        batch.write_batch(engine, items[start : start + 333], providers, overrides, pricer)
    incremental = _rollup_tables(engine)
    rollups.rebuild(engine)
    rebuilt = _rollup_tables(engine)
    assert incremental.keys() == rebuilt.keys()
    for name, rows in rebuilt.items():
        assert incremental[name].keys() == rows.keys(), name
        for key, measures in rows.items():
            for column, value in measures.items():
                got = incremental[name][key][column]
                if isinstance(value, int):
                    assert got == value, (name, key, column)
                else:
                    assert float(got) == pytest.approx(float(value), rel=1e-9, abs=1e-12), (name, key, column)
