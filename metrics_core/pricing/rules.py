"""The pricing rules for one call (see ``prices``): local is free, an override beats genai-prices,
genai-prices for the call's own timestamp, otherwise unpriced."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from ..money import ZERO
from .linear import catalog_price
from .prices import SOURCE_LOCAL, SOURCE_UNPRICED, Price, PriceOverride, TokenUsage, genai_source


def price_call(
    *,
    provider_type: str,
    pricing_provider: str | None,
    model: str,
    usage: TokenUsage | None,
    timestamp: datetime,
    override: PriceOverride | None = None,
) -> Price:
    """The cost of one call by the rules in this module's docstring.

    Args:
        provider_type: ``local`` or ``remote``.
        pricing_provider: genai-prices provider id (``anthropic``, ``openai``...), None if unknown.
        model: the model name as the application sent it.
        usage: the call's token counts; None when they are not known (unpriced unless local).
        timestamp: when the call happened (prices in force then are used).
        override: a custom price that takes precedence over genai-prices.

    Returns:
        A ``Price``; ``cost_usd`` is None when the call is unpriced.
    """
    if provider_type == "local":
        return Price(ZERO, SOURCE_LOCAL)
    if usage is None:
        return Price(None, SOURCE_UNPRICED)
    if override is not None:
        return Price(override.cost(usage), override.source)
    cost = catalog_price(pricing_provider, model, usage, timestamp)
    if cost is None:
        return Price(None, SOURCE_UNPRICED)
    return Price(cost, genai_source())


def reference_cost(usage: TokenUsage | None, timestamp: datetime, *, provider: str, model: str) -> Decimal | None:
    """What ``usage`` would have cost on the reference model at ``timestamp`` (its default tier)."""
    if usage is None:
        return None
    if usage.service_tier is not None:
        usage = TokenUsage(
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.cache_read_tokens,
            usage.cache_write_tokens,
            usage.reasoning_tokens,
            None,
            usage.details,
        )
    return catalog_price(provider, model, usage, timestamp)
