"""Pricing: genai-prices for the call's own timestamp, cache and tiers, local = 0, overrides, unpriced."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metrics_core import pricing
from metrics_core.pricing import PriceOverride, TokenUsage, price_call

NOV = datetime(2026, 11, 1, 12, tzinfo=UTC)


def remote(provider, model, usage, when=NOV, override=None):
    return price_call(
        provider_type="remote", pricing_provider=provider, model=model, usage=usage, timestamp=when, override=override
    )


@pytest.mark.parametrize(
    ("provider", "model", "usage", "when", "expected"),
    [
        # $3 in / $15 out per million: 1000 x 3 + 500 x 15 = 10500 micro-dollars
        ("anthropic", "claude-sonnet-4-5", TokenUsage(1000, 500), NOV, Decimal("0.0105")),
        # cache: 500 uncached x $3 + 400 read x $0.30 + 100 written x $3.75, + 500 out x $15
        (
            "anthropic",
            "claude-sonnet-4-5",
            TokenUsage(1000, 500, cache_read_tokens=400, cache_write_tokens=100),
            NOV,
            Decimal("0.009495"),
        ),
        # long context (> 200k input): the whole request at $6 in / $22.50 out
        ("anthropic", "claude-sonnet-4-5", TokenUsage(300_000, 500), NOV, Decimal("1.81125")),
        # just at the tier start (200,000 is not above it): base prices
        ("anthropic", "claude-sonnet-4-5", TokenUsage(200_000, 0), NOV, Decimal("0.6")),
        # OpenAI gpt-4o: $2.50 in, $10 out, $1.25 cached
        ("openai", "gpt-4o", TokenUsage(1000, 500), NOV, Decimal("0.0075")),
        ("openai", "gpt-4o", TokenUsage(1000, 500, cache_read_tokens=800), NOV, Decimal("0.0065")),
        # reasoning tokens are part of completion tokens, priced as output: o3 $2 in, $8 out
        ("openai", "o3", TokenUsage(1000, 2000, reasoning_tokens=1500), NOV, Decimal("0.018")),
    ],
    ids=[
        "sonnet",
        "sonnet-cache",
        "sonnet-long-context",
        "sonnet-tier-edge",
        "gpt-4o",
        "gpt-4o-cached",
        "o3-reasoning",
    ],
)
def test_catalog_prices(provider, model, usage, when, expected):
    price = remote(provider, model, usage, when)
    assert price.source == "genai-prices:0.2.3"  # the bundled data of the pinned genai-prices
    assert price.cost_usd == expected


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        # claude-opus-4-6 before 2026-03-13: tiered, 300k input is long context ($10 in, $37.50 out)
        (datetime(2026, 3, 1, tzinfo=UTC), Decimal("3.0375")),
        # from 2026-03-13: flat $5 in, $25 out
        (datetime(2026, 4, 1, tzinfo=UTC), Decimal("1.525")),
    ],
    ids=["before-price-change", "after-price-change"],
)
def test_historical_prices_follow_the_call_timestamp(when, expected):
    assert remote("anthropic", "claude-opus-4-6", TokenUsage(300_000, 1000), when).cost_usd == expected


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (datetime(2026, 8, 1, tzinfo=UTC), Decimal("0.42")),  # 0.14 + 0.28
        (datetime(2026, 9, 1, tzinfo=UTC), Decimal("0.88")),  # 0.22 + 0.66
        (datetime(2026, 10, 1, tzinfo=UTC), Decimal("0.75")),  # 0.15 + 0.60
    ],
)
def test_three_price_periods(when, expected):
    usage = TokenUsage(1_000_000, 1_000_000)
    assert remote("deepseek", "deepseek-v4-flash", usage, when).cost_usd == expected


def test_local_providers_cost_exactly_zero_by_rule():
    price = price_call(
        provider_type="local",
        pricing_provider="anthropic",
        model="claude-sonnet-4-5",
        usage=TokenUsage(1000, 500),
        timestamp=NOV,
    )
    assert price.cost_usd == Decimal(0)
    assert price.source == "local"


@pytest.mark.parametrize(
    ("provider", "model"),
    [("anthropic", "claude-made-up-9"), ("no-such-provider", "gpt-4o"), (None, "gpt-4o")],
)
def test_unknown_price_is_unpriced_never_zero(provider, model):
    price = remote(provider, model, TokenUsage(1000, 500))
    assert price.cost_usd is None
    assert price.source == "unpriced"


def test_override_beats_catalog():
    override = PriceOverride(Decimal("1"), Decimal("2"), cache_read_mtok=Decimal("0.1"))
    # 600 uncached x $1 + 400 read x $0.10 + 500 out x $2 = 600 + 40 + 1000 micro-dollars
    price = remote("anthropic", "claude-sonnet-4-5", TokenUsage(1000, 500, cache_read_tokens=400), override=override)
    assert (price.cost_usd, price.source) == (Decimal("0.00164"), "override")


def test_override_cache_prices_default_to_input_price():
    override = PriceOverride(Decimal("2"), Decimal("4"))
    usage = TokenUsage(1000, 0, cache_read_tokens=300, cache_write_tokens=200)
    assert override.cost(usage) == Decimal("0.002")


def test_reference_cost_uses_the_reference_model():
    assert pricing.reference_cost(
        TokenUsage(1000, 500), NOV, provider="anthropic", model="claude-sonnet-4-5"
    ) == Decimal("0.0105")


MODELS = [
    ("anthropic", "claude-sonnet-4-5"),
    ("anthropic", "claude-haiku-4-5"),
    ("anthropic", "claude-opus-4-6"),
    ("openai", "gpt-4o"),
    ("openai", "gpt-4o-mini"),
    ("openai", "o3"),
    ("deepseek", "deepseek-v4-flash"),
    ("google", "gemini-2.5-pro"),
    ("x-ai", "grok-4.20"),
]


@settings(max_examples=300, deadline=None)
@given(
    model=st.sampled_from(MODELS),
    prompt=st.integers(0, 400_000),
    read_share=st.floats(0, 1),
    write_share=st.floats(0, 1),
    completion=st.integers(0, 300_000),
    day=st.dates(min_value=datetime(2025, 6, 1).date(), max_value=datetime(2026, 11, 28).date()),
    hour=st.integers(0, 23),
)
def test_fast_path_equals_genai_prices(model, prompt, read_share, write_share, completion, day, hour):
    """The cached linear coefficients give exactly what genai-prices computes, tiers included."""
    cache_read = int(prompt * read_share)
    cache_write = int((prompt - cache_read) * write_share)
    usage = TokenUsage(prompt, completion, cache_read, cache_write)
    when = datetime(day.year, day.month, day.day, hour, tzinfo=UTC)
    provider, name = model
    try:
        expected = pricing.genai_price(provider, name, usage, when)
    except LookupError:
        expected = None
    assert pricing.catalog_price(provider, name, usage, when) == expected
