"""Pricing: the cost of one call from genai-prices, the local-is-free rule and price overrides.

Pure: no database. ``Pricer`` is the writer's fast path; ``price_call`` and ``reference_cost``
price one call; ``catalog_price`` looks a catalog price up.
"""

from .prices import (
    SOURCE_GENAI,
    SOURCE_LOCAL,
    SOURCE_OVERRIDE,
    SOURCE_UNPRICED,
    Price,
    PriceOverride,
    Pricer,
    TokenUsage,
    catalog_price,
    genai_price,
    minute_aligned,
    price_call,
    reference_cost,
)

__all__ = [
    "SOURCE_GENAI",
    "SOURCE_LOCAL",
    "SOURCE_OVERRIDE",
    "SOURCE_UNPRICED",
    "Price",
    "PriceOverride",
    "Pricer",
    "TokenUsage",
    "catalog_price",
    "genai_price",
    "minute_aligned",
    "price_call",
    "reference_cost",
]
