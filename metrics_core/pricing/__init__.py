"""Pricing: the cost of one call from genai-prices, the local-is-free rule and price overrides.

Pure: no database. ``Pricer`` is the writer's fast path; ``price_call`` and ``reference_cost``
price one call; ``catalog_price`` looks a catalog price up; ``snapshot`` holds the genai-prices data
in use (bundled, or a newer data file).
"""

from . import snapshot
from .linear import Pricer, catalog_price, minute_aligned
from .prices import (
    PRICE_CONTEXTS,
    SERVICE_TIERS,
    SOURCE_GENAI,
    SOURCE_LOCAL,
    SOURCE_OVERRIDE,
    SOURCE_UNPRICED,
    USAGE_DETAIL_KEYS,
    Price,
    PriceOverride,
    TokenUsage,
    genai_price,
    genai_source,
)
from .rules import price_call, reference_cost

__all__ = [
    "PRICE_CONTEXTS",
    "SERVICE_TIERS",
    "SOURCE_GENAI",
    "SOURCE_LOCAL",
    "SOURCE_OVERRIDE",
    "SOURCE_UNPRICED",
    "USAGE_DETAIL_KEYS",
    "Price",
    "PriceOverride",
    "Pricer",
    "TokenUsage",
    "catalog_price",
    "genai_price",
    "genai_source",
    "minute_aligned",
    "price_call",
    "reference_cost",
    "snapshot",
]
