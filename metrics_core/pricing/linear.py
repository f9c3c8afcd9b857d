"""The fast path: genai-prices' prices as linear per-quantity coefficients, measured with genai-prices.

genai-prices takes ~100 µs per call, too slow for the writer's batches. Below a model's first
long-context tier a price is linear in the usage quantities, so ``catalog_price`` resolves each price
period of a (provider, model, service tier) once into coefficients *measured with genai-prices
itself* (one probe per quantity, the quantities it is a part of set alongside), and uses them while
the usage stays below the tier; anything else goes through genai-prices directly. ``Pricer`` (the
writer's) also caches the lookup per minute of call time. Property tests check both agree with
genai-prices.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import lru_cache

from genai_prices import data_snapshot
from genai_prices import types as gp_types

from . import snapshot
from .prices import USAGE_DETAIL_KEYS, TokenUsage, aware, genai_price, gp_calc

PROBE = 1000  # quantity used to measure a coefficient (below every tier start)


@dataclass(slots=True)
class Linear:
    """cost = base + a*uncached_input + b*cache_read + c*cache_write + d*output + e*reasoning
    + the ``details`` coefficients, below ``limit``."""

    base: Decimal
    uncached: Decimal
    cache_read: Decimal
    cache_write: Decimal
    output: Decimal
    reasoning: Decimal
    limit: int | None  # highest token count the coefficients hold for; None = no tiers
    probe: object = None  # (gp key values) -> Decimal, for the details coefficients
    details: dict = field(default_factory=dict)  # usage_details key -> coefficient (None: not linear)

    def detail(self, key: str) -> Decimal | None:
        try:
            return self.details[key]
        except KeyError:
            pass
        parents = {k: PROBE for k in USAGE_DETAIL_KEYS[key]}
        parents.setdefault("input_tokens", 0)
        parents.setdefault("output_tokens", 0)
        try:
            coefficient = (self.probe({**parents, key: PROBE}) - self.probe(parents)) / PROBE
        except (LookupError, ValueError):
            coefficient = None
        self.details[key] = coefficient
        return coefficient

    def cost(self, pt: int, ct: int, cr: int, cw: int, rt: int, details) -> Decimal | None:
        limit = self.limit
        if limit is not None and (pt > limit or ct > limit):
            return None
        total = self.base + (pt - cr - cw) * self.uncached + ct * self.output
        if cr:
            total += cr * self.cache_read
        if cw:
            total += cw * self.cache_write
        if rt:
            total += rt * self.reasoning
        if details:
            for key, value in details.items():
                coefficient = self.details.get(key) if key in self.details else self.detail(key)
                if coefficient is None:
                    return None
                if value:
                    total += value * coefficient
        return total


@lru_cache(maxsize=4096)
def _model_info(pricing_provider: str, model: str):
    try:
        return data_snapshot.get_snapshot().find_provider_model(model, None, pricing_provider, None)[1]
    except LookupError:
        return None


_linear_cache: dict[tuple, Linear | None] = {}


def _clear() -> None:
    _model_info.cache_clear()
    _linear_cache.clear()


snapshot.on_install(_clear)


def _period_key(info, timestamp: datetime, tier: str | None) -> tuple:
    """What identifies the price in force: genai-prices hands back the same ``ModelPrice`` object for
    every timestamp its constraints map to it; a tier's variants switch on by their start dates."""
    standard = info.get_prices(timestamp)
    if tier is None or not info.price_variants:
        return (id(standard), tier)
    active = tuple(v.constraint is None or v.constraint.active(timestamp) for v in info.price_variants)
    return (id(standard), tier, active)


def linear(pricing_provider: str, model: str, timestamp: datetime, tier: str | None = None) -> Linear | None:
    """The linear coefficients of the price in force at ``timestamp`` for ``tier`` (None: no price)."""
    info = _model_info(pricing_provider, model)
    if info is None:
        return None
    key = (pricing_provider, model, _period_key(info, timestamp, tier))
    try:
        return _linear_cache[key]
    except KeyError:
        pass
    from .prices import PRICE_CONTEXTS

    resolved = info.get_prices(timestamp, PRICE_CONTEXTS.get(tier) if tier else None)
    starts = [
        t.start for value in vars(resolved).values() if isinstance(value, gp_types.TieredPrices) for t in value.tiers
    ]

    def probe(values) -> Decimal:
        return gp_calc(pricing_provider, model, values, timestamp, tier)

    def usage(**kw) -> Decimal:
        return genai_price(pricing_provider, model, TokenUsage(service_tier=tier, **kw), timestamp)

    try:
        base = usage()
        per = Decimal(PROBE)
        out = usage(completion_tokens=PROBE)
        result = Linear(
            base=base,
            uncached=(usage(prompt_tokens=PROBE) - base) / per,
            cache_read=(usage(prompt_tokens=PROBE, cache_read_tokens=PROBE) - base) / per,
            cache_write=(usage(prompt_tokens=PROBE, cache_write_tokens=PROBE) - base) / per,
            output=(out - base) / per,
            reasoning=(usage(completion_tokens=PROBE, reasoning_tokens=PROBE) - out) / per,
            limit=min(starts) if starts else None,
            probe=probe,
        )
    except LookupError:
        result = None
    _linear_cache[key] = result
    return result


def catalog_price(pricing_provider: str | None, model: str, usage: TokenUsage, timestamp: datetime) -> Decimal | None:
    """genai-prices' price for ``usage`` at ``timestamp`` (fast path when linear), None if unknown."""
    if not pricing_provider:
        return None
    timestamp = aware(timestamp)
    coefficients = linear(pricing_provider, model, timestamp, usage.service_tier)
    if coefficients is None:
        return None
    cost = coefficients.cost(
        usage.prompt_tokens,
        usage.completion_tokens,
        usage.cache_read_tokens,
        usage.cache_write_tokens,
        usage.reasoning_tokens,
        usage.details,
    )
    if cost is not None:
        return cost
    try:
        return genai_price(pricing_provider, model, usage, timestamp)
    except LookupError:
        return None


def minute_aligned(pricing_provider: str, model: str) -> bool:
    """True when every price period of the model starts and ends on a whole minute (UTC)."""
    info = _model_info(pricing_provider, model)
    if info is None:
        return True
    constraints = [] if isinstance(info.prices, gp_types.ModelPrice) else [c.constraint for c in info.prices]
    constraints += [v.constraint for v in info.price_variants or ()]
    for constraint in constraints:
        if constraint is None or isinstance(constraint, gp_types.StartDateConstraint):
            continue
        if not isinstance(constraint, gp_types.TimeOfDateConstraint):
            return False  # a kind of constraint this module does not know: no caching
        for t in (constraint.start_time, constraint.end_time):
            offset = t.utcoffset()
            if t.second or t.microsecond or (offset is not None and offset.seconds % 60):
                return False
    return True


_UNSET = object()


class Pricer:
    """``catalog_price`` for many calls in a row, as the writer needs it.

    The linear coefficients of a (provider, model, tier) are looked up once per minute of call time
    (genai-prices' price periods start on whole dates or whole minutes of the day; a model with any
    other constraint is looked up for every call), and the cost is computed inline. The result is
    the Decimal ``catalog_price`` returns for the same call.
    """

    def __init__(self) -> None:
        self._coefficients: dict[tuple, Linear | None] = {}
        self._aligned: dict[tuple[str, str], bool] = {}
        self._data = snapshot.installed_key()

    def catalog(
        self,
        pricing_provider: str | None,
        model: str,
        at: str,
        pt: int,
        ct: int,
        cr: int,
        cw: int,
        rt: int = 0,
        tier: str | None = None,
        details=None,
    ) -> Decimal | None:
        """The catalog price of a call at ``at`` (UTC, ``YYYY-MM-DD HH:MM:SS.ffffff``); None if unknown."""
        if not pricing_provider:
            return None
        key = (pricing_provider, model, at[:16]) if tier is None else (pricing_provider, model, at[:16], tier)
        coefficients = self._coefficients.get(key, _UNSET)
        if coefficients is _UNSET:
            coefficients = self._lookup(pricing_provider, model, at, key, tier)
        if coefficients is None:
            return None
        limit = coefficients.limit
        if limit is None or (pt <= limit and ct <= limit):
            # the same expression as Linear.cost, inline; zero terms are left out (same value)
            if cr or cw:
                total = (
                    coefficients.base
                    + (pt - cr - cw) * coefficients.uncached
                    + cr * coefficients.cache_read
                    + cw * coefficients.cache_write
                    + ct * coefficients.output
                )
            else:
                total = coefficients.base + pt * coefficients.uncached + ct * coefficients.output
            if rt:
                total += rt * coefficients.reasoning
            if details:
                known = coefficients.details
                for key, value in details.items():
                    coefficient = known.get(key, _UNSET)
                    if coefficient is _UNSET:
                        coefficient = coefficients.detail(key)
                    if coefficient is None:
                        break  # not linear: genai-prices itself, below
                    if coefficient:
                        total += value * coefficient
                else:
                    return total
            else:
                return total
        usage = TokenUsage(pt, ct, cr, cw, rt, tier, details)
        return catalog_price(pricing_provider, model, usage, datetime.fromisoformat(at))

    def refresh(self) -> None:
        """Forget the coefficients if other price data was installed since they were looked up."""
        if self._data != snapshot.installed_key():
            self._coefficients.clear()
            self._aligned.clear()
            self._data = snapshot.installed_key()

    def _lookup(self, pricing_provider: str, model: str, at: str, key: tuple, tier) -> Linear | None:
        aligned = self._aligned.get(key[:2])
        if aligned is None:
            aligned = self._aligned[key[:2]] = minute_aligned(pricing_provider, model)
        coefficients = linear(pricing_provider, model, aware(datetime.fromisoformat(at)), tier)
        if aligned:
            if len(self._coefficients) > 100_000:
                self._coefficients.clear()
            self._coefficients[key] = coefficients
        return coefficients
