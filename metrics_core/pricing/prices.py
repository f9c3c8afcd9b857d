"""What a call cost, in Decimal USD.

Rules, in order:
1. a local provider (``ollama``, ``localai``, anything configured local) costs exactly 0;
2. a custom price override for (provider, model) — or ('*', model) — is used if one exists;
3. otherwise genai-prices prices the usage for the call's own timestamp (historical prices,
   cache reads/writes, one-hour cache writes, long-context tiers, reasoning, audio, web searches,
   service tiers);
4. no price found, or usage not known: the call is *unpriced* (cost ``None``), never a silent 0.

``prompt_tokens`` counts every input token; cache reads and writes are parts of it (OpenAI and
OpenTelemetry semantics, and genai-prices' ``input_tokens``). Reasoning tokens are part of
``completion_tokens`` and go to genai-prices as ``output_reasoning_tokens`` (priced apart where the
provider does, as output otherwise). ``details`` holds further genai-prices usage quantities
(``USAGE_DETAIL_KEYS``); the token kinds among them are parts of the main counts.

The fast path (``catalog_price``, ``Pricer``) lives in ``linear``; ``rules.price_call`` applies the rules.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from genai_prices import Usage as _GPUsage
from genai_prices import data_snapshot

from . import snapshot

MILLION = Decimal(1_000_000)

SOURCE_LOCAL = "local"
SOURCE_GENAI = "genai-prices"  # stored as genai-prices:<data version or date> (snapshot.source_label())
SOURCE_OVERRIDE = "override"  # stored as override:<id>
SOURCE_UNPRICED = "unpriced"

#: service tiers ``record_request`` accepts ('auto' is stored as 'default')
SERVICE_TIERS = ("default", "priority", "flex", "batch")
#: service tier -> genai-prices price_context (default: the standard prices, no context)
PRICE_CONTEXTS: dict[str, Mapping[str, str] | None] = {
    "default": None,
    "priority": {"service_tier": "priority"},
    "flex": {"service_tier": "flex"},
    "batch": {"processing": "batch"},
}
#: usage_details keys (genai-prices usage names) -> the genai-prices quantities each is a part of
USAGE_DETAIL_KEYS: dict[str, tuple[str, ...]] = {
    "cache_write_1h_tokens": ("input_tokens", "cache_write_tokens"),
    "input_audio_tokens": ("input_tokens",),
    "cache_audio_read_tokens": ("input_tokens", "cache_read_tokens", "input_audio_tokens"),
    "input_image_tokens": ("input_tokens",),
    "output_audio_tokens": ("output_tokens",),
    "output_image_tokens": ("output_tokens",),
    "web_searches": (),
    "code_executions": (),
}


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """Token counts of one call (cache and reasoning tokens are parts of prompt/completion).

    ``service_tier`` is one of ``SERVICE_TIERS`` or None (default); ``details`` maps
    ``USAGE_DETAIL_KEYS`` to whole numbers.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    service_tier: str | None = None
    details: Mapping[str, int] | None = None


@dataclass(frozen=True, slots=True)
class PriceOverride:
    """A custom price in USD per million tokens; cache prices default to the input price.

    ``id`` is the stored override's id (``price_source`` ``override:<id>``).
    """

    input_mtok: Decimal
    output_mtok: Decimal
    cache_read_mtok: Decimal | None = None
    cache_write_mtok: Decimal | None = None
    id: int | None = None

    @property
    def source(self) -> str:
        return SOURCE_OVERRIDE if self.id is None else f"{SOURCE_OVERRIDE}:{self.id}"

    def cost(self, usage: TokenUsage) -> Decimal:
        cache_read = self.cache_read_mtok if self.cache_read_mtok is not None else self.input_mtok
        cache_write = self.cache_write_mtok if self.cache_write_mtok is not None else self.input_mtok
        uncached = usage.prompt_tokens - usage.cache_read_tokens - usage.cache_write_tokens
        total = (
            uncached * self.input_mtok
            + usage.cache_read_tokens * cache_read
            + usage.cache_write_tokens * cache_write
            + usage.completion_tokens * self.output_mtok
        )
        return total / MILLION


@dataclass(frozen=True, slots=True)
class Price:
    """The cost of one call and where it came from (``cost_usd`` None = unpriced)."""

    cost_usd: Decimal | None
    source: str


def gp_usage_values(usage: TokenUsage) -> dict[str, int]:
    """``usage`` as genai-prices usage keys and values."""
    values = {"input_tokens": usage.prompt_tokens, "output_tokens": usage.completion_tokens}
    if usage.cache_read_tokens:
        values["cache_read_tokens"] = usage.cache_read_tokens
    if usage.cache_write_tokens:
        values["cache_write_tokens"] = usage.cache_write_tokens
    if usage.reasoning_tokens:
        values["output_reasoning_tokens"] = usage.reasoning_tokens
    if usage.details:
        values.update((k, v) for k, v in usage.details.items() if v)
        for modality in ("audio", "image"):
            # genai-prices wants the overlap of a modality and the cache said; what is not given is 0
            if f"input_{modality}_tokens" in values:
                if usage.cache_read_tokens:
                    values.setdefault(f"cache_{modality}_read_tokens", 0)
                if usage.cache_write_tokens:
                    values.setdefault(f"cache_{modality}_write_tokens", 0)
                if "cache_write_1h_tokens" in values:
                    values.setdefault(f"cache_{modality}_write_1h_tokens", 0)
            if f"output_{modality}_tokens" in values and usage.reasoning_tokens:
                values.setdefault(f"output_{modality}_reasoning_tokens", 0)
    return values


def gp_calc(
    pricing_provider: str, model: str, values: Mapping[str, int], timestamp: datetime, service_tier: str | None
) -> Decimal:
    """genai-prices' total for usage ``values``; ``LookupError`` when it has no price, ``ValueError``
    when it cannot price that usage."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return (
            data_snapshot.get_snapshot()
            .calc(
                _GPUsage(**values),
                model,
                pricing_provider,
                None,
                aware(timestamp),
                PRICE_CONTEXTS.get(service_tier) if service_tier else None,
            )
            .total_price
        )


def genai_price(pricing_provider: str, model: str, usage: TokenUsage, timestamp: datetime) -> Decimal:
    """Price ``usage`` with genai-prices directly; raises ``LookupError`` when there is no price."""
    try:
        return gp_calc(pricing_provider, model, gp_usage_values(usage), timestamp, usage.service_tier)
    except ValueError as exc:  # usage genai-prices cannot split, e.g. audio parts larger than the whole
        raise LookupError(str(exc)) from None


def aware(timestamp: datetime) -> datetime:
    return timestamp if timestamp.tzinfo else timestamp.replace(tzinfo=UTC)


def genai_source() -> str:
    """``price_source`` of a call priced by genai-prices with the data in use."""
    return snapshot.source_label()
