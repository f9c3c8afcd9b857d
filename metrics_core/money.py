"""Money: Decimal inside, one conversion rule at the edges.

A cost that cannot be known is ``None`` (never ``0``): ``decimal_or_none`` keeps it so, and
``as_float`` turns it into ``None`` for JSON. Totals over a mix of priced and unpriced calls are sums
over the priced ones (``decimal_or_zero``), reported beside the count of unpriced calls.
"""

from __future__ import annotations

from decimal import Decimal

ZERO = Decimal(0)
HUNDRED = Decimal(100)
CENT = Decimal("0.01")
#: the precision money is stored with (NUMERIC(20,10))
STORED = Decimal("1e-10")


def decimal_or_zero(value) -> Decimal:
    """A database or Python number as Decimal; None (an empty sum) -> 0."""
    if value is None:
        return ZERO
    return value if isinstance(value, Decimal) else Decimal(str(value))


def decimal_or_none(value) -> Decimal | None:
    """A database or Python number as Decimal; None (unknown) stays None."""
    return None if value is None else decimal_or_zero(value)


def group_cost(cost, requests, unpriced) -> Decimal | None:
    """The cost of a group of calls (a provider, model, tag value or day): None when the group has
    calls and none of them could be priced, else the sum over its priced calls."""
    requests, unpriced = int(requests or 0), int(unpriced or 0)
    if requests and unpriced >= requests:
        return None
    return decimal_or_zero(cost)


def as_float(value, places: int = 6):
    """Decimal -> float rounded to ``places`` (JSON, facade dicts); None stays None; others unchanged."""
    if isinstance(value, Decimal):
        return float(round(value, places))
    return value


def quantize_stored(value) -> Decimal | None:
    """``value`` at the stored precision (for comparing a computed cost with a stored one)."""
    return None if value is None else Decimal(value).quantize(STORED)
