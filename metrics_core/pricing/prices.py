"""What a call cost, in Decimal USD.

Rules, in order:
1. a local provider (``ollama``, ``localai``, anything configured local) costs exactly 0;
2. a custom price override for (provider, model) — or ('*', model) — is used if one exists;
3. otherwise genai-prices prices the usage for the call's own timestamp (historical prices,
   cache reads/writes, long-context tiers);
4. no price found: the call is *unpriced* (cost ``None``), never a silent 0.

``prompt_tokens`` counts every input token; cache reads and writes are parts of it (OpenAI and
OpenTelemetry semantics, and genai-prices' ``input_tokens``). Reasoning tokens are part of
``completion_tokens`` and priced as output.

genai-prices takes ~100 µs per call, too slow for the writer's batches. ``catalog_price`` therefore
resolves each price period of a (provider, model) once into linear per-token coefficients *measured
with genai-prices itself*, and uses them while the usage stays below the model's first long-context
tier; anything else goes through genai-prices directly. ``Pricer`` (the writer's) also caches the
lookup per minute of call time. A property test checks both agree with genai-prices.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache

from genai_prices import Usage as _GPUsage
from genai_prices import data_snapshot
from genai_prices import types as _gp_types

from ..money import ZERO

MILLION = Decimal(1_000_000)
_PROBE = 1000  # tokens used to measure a linear coefficient (below every tier start)

SOURCE_LOCAL = "local"
SOURCE_GENAI = "genai-prices"
SOURCE_OVERRIDE = "override"
SOURCE_UNPRICED = "unpriced"


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """Token counts of one call (cache and reasoning tokens are parts of prompt/completion)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0


@dataclass(frozen=True, slots=True)
class PriceOverride:
    """A custom price in USD per million tokens; cache prices default to the input price."""

    input_mtok: Decimal
    output_mtok: Decimal
    cache_read_mtok: Decimal | None = None
    cache_write_mtok: Decimal | None = None

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


def _gp_usage(usage: TokenUsage) -> _GPUsage:
    kwargs = {"input_tokens": usage.prompt_tokens, "output_tokens": usage.completion_tokens}
    if usage.cache_read_tokens:
        kwargs["cache_read_tokens"] = usage.cache_read_tokens
    if usage.cache_write_tokens:
        kwargs["cache_write_tokens"] = usage.cache_write_tokens
    return _GPUsage(**kwargs)


def genai_price(pricing_provider: str, model: str, usage: TokenUsage, timestamp: datetime) -> Decimal:
    """Price ``usage`` with genai-prices directly; raises ``LookupError`` when there is no price."""
    snapshot = data_snapshot.get_snapshot()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return snapshot.calc(_gp_usage(usage), model, pricing_provider, None, _aware(timestamp)).total_price


def _aware(timestamp: datetime) -> datetime:
    return timestamp if timestamp.tzinfo else timestamp.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class _Linear:
    """cost = base + a*uncached_input + b*cache_read + c*cache_write + d*output, below ``limit``."""

    base: Decimal
    uncached: Decimal
    cache_read: Decimal
    cache_write: Decimal
    output: Decimal
    limit: int | None  # highest token count the coefficients hold for; None = no tiers

    def cost(self, usage: TokenUsage) -> Decimal | None:
        if self.limit is not None and (usage.prompt_tokens > self.limit or usage.completion_tokens > self.limit):
            return None
        uncached = usage.prompt_tokens - usage.cache_read_tokens - usage.cache_write_tokens
        return (
            self.base
            + uncached * self.uncached
            + usage.cache_read_tokens * self.cache_read
            + usage.cache_write_tokens * self.cache_write
            + usage.completion_tokens * self.output
        )


@lru_cache(maxsize=4096)
def _model_info(pricing_provider: str, model: str):
    try:
        return data_snapshot.get_snapshot().find_provider_model(model, None, pricing_provider, None)[1]
    except LookupError:
        return None


_linear_cache: dict[tuple[str, str, int], _Linear | None] = {}


def _linear(pricing_provider: str, model: str, timestamp: datetime) -> _Linear | None:
    """The linear coefficients of the price in force at ``timestamp`` (None: no price known).

    Cached per price period: genai-prices hands back the same ``ModelPrice`` object for every
    timestamp its constraints (start dates, times of day) map to it.
    """
    info = _model_info(pricing_provider, model)
    if info is None:
        return None
    model_price = info.get_prices(timestamp)
    key = (pricing_provider, model, id(model_price))
    try:
        return _linear_cache[key]
    except KeyError:
        pass
    starts = [
        tier.start
        for value in vars(model_price).values()
        if isinstance(value, _gp_types.TieredPrices)
        for tier in value.tiers
    ]

    def probe(**kw) -> Decimal:
        return genai_price(pricing_provider, model, TokenUsage(**kw), timestamp)

    try:
        base = probe()
        per = Decimal(_PROBE)
        linear = _Linear(
            base=base,
            uncached=(probe(prompt_tokens=_PROBE) - base) / per,
            cache_read=(probe(prompt_tokens=_PROBE, cache_read_tokens=_PROBE) - base) / per,
            cache_write=(probe(prompt_tokens=_PROBE, cache_write_tokens=_PROBE) - base) / per,
            output=(probe(completion_tokens=_PROBE) - base) / per,
            limit=min(starts) if starts else None,
        )
    except LookupError:
        linear = None
    _linear_cache[key] = linear
    return linear


def catalog_price(pricing_provider: str | None, model: str, usage: TokenUsage, timestamp: datetime) -> Decimal | None:
    """genai-prices' price for ``usage`` at ``timestamp`` (fast path when linear), None if unknown."""
    if not pricing_provider:
        return None
    timestamp = _aware(timestamp)
    linear = _linear(pricing_provider, model, timestamp)
    if linear is None:
        return None
    cost = linear.cost(usage)
    if cost is not None:
        return cost
    try:
        return genai_price(pricing_provider, model, usage, timestamp)
    except LookupError:
        return None


def minute_aligned(pricing_provider: str, model: str) -> bool:
    """True when every price period of the model starts and ends on a whole minute (UTC)."""
    info = _model_info(pricing_provider, model)
    if info is None or isinstance(info.prices, _gp_types.ModelPrice):
        return True
    for conditional in info.prices:
        constraint = conditional.constraint
        if constraint is None or isinstance(constraint, _gp_types.StartDateConstraint):
            continue
        if not isinstance(constraint, _gp_types.TimeOfDateConstraint):
            return False  # a kind of constraint this module does not know: no caching
        for t in (constraint.start_time, constraint.end_time):
            offset = t.utcoffset()
            if t.second or t.microsecond or (offset is not None and offset.seconds % 60):
                return False
    return True


_UNSET = object()


class Pricer:
    """``catalog_price`` for many calls in a row, as the writer needs it.

    The linear coefficients of a (provider, model) are looked up once per minute of call time
    (genai-prices' price periods start on whole dates or whole minutes of the day; a model with any
    other constraint is looked up for every call), and the cost is computed inline. The result is
    the Decimal ``catalog_price`` returns for the same call.
    """

    def __init__(self) -> None:
        self._coefficients: dict[tuple, _Linear | None] = {}
        self._aligned: dict[tuple[str, str], bool] = {}

    def catalog(
        self, pricing_provider: str | None, model: str, at: str, pt: int, ct: int, cr: int, cw: int, rt: int = 0
    ) -> Decimal | None:
        """The catalog price of a call at ``at`` (UTC, ``YYYY-MM-DD HH:MM:SS.ffffff``); None if unknown."""
        if not pricing_provider:
            return None
        key = (pricing_provider, model, at[:16])
        linear = self._coefficients.get(key, _UNSET)
        if linear is _UNSET:
            linear = self._lookup(pricing_provider, model, at, key)
        if linear is None:
            return None
        limit = linear.limit
        if limit is None or (pt <= limit and ct <= limit):
            # the same expression as _Linear.cost; zero cache terms are left out (same value)
            if cr or cw:
                return (
                    linear.base
                    + (pt - cr - cw) * linear.uncached
                    + cr * linear.cache_read
                    + cw * linear.cache_write
                    + ct * linear.output
                )
            return linear.base + pt * linear.uncached + ct * linear.output
        return catalog_price(pricing_provider, model, TokenUsage(pt, ct, cr, cw, rt), datetime.fromisoformat(at))

    def _lookup(self, pricing_provider: str, model: str, at: str, key: tuple) -> _Linear | None:
        aligned = self._aligned.get(key[:2])
        if aligned is None:
            aligned = self._aligned[key[:2]] = minute_aligned(pricing_provider, model)
        linear = _linear(pricing_provider, model, _aware(datetime.fromisoformat(at)))
        if aligned:
            if len(self._coefficients) > 100_000:
                self._coefficients.clear()
            self._coefficients[key] = linear
        return linear


def price_call(
    *,
    provider_type: str,
    pricing_provider: str | None,
    model: str,
    usage: TokenUsage,
    timestamp: datetime,
    override: PriceOverride | None = None,
) -> Price:
    """The cost of one call by the rules in this module's docstring.

    Args:
        provider_type: ``local`` or ``remote``.
        pricing_provider: genai-prices provider id (``anthropic``, ``openai``...), None if unknown.
        model: the model name as the application sent it.
        usage: the call's token counts.
        timestamp: when the call happened (prices in force then are used).
        override: a custom price that takes precedence over genai-prices.

    Returns:
        A ``Price``; ``cost_usd`` is None when the call is unpriced.
    """
    if provider_type == "local":
        return Price(ZERO, SOURCE_LOCAL)
    if override is not None:
        return Price(override.cost(usage), SOURCE_OVERRIDE)
    cost = catalog_price(pricing_provider, model, usage, timestamp)
    if cost is None:
        return Price(None, SOURCE_UNPRICED)
    return Price(cost, SOURCE_GENAI)


def reference_cost(usage: TokenUsage, timestamp: datetime, *, provider: str, model: str) -> Decimal | None:
    """What ``usage`` would have cost on the reference model at ``timestamp``."""
    return catalog_price(provider, model, usage, timestamp)
