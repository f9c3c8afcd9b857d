"""Billed usage as the providers report it, normalized per (provider, day, model).

Also the one mapping from a billed (often dated) model name to the name the app recorded.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

PROVIDERS = ("openai", "anthropic")
"""Billing providers, as ``llm-metrics reconcile --provider`` names them."""

_DATE_SUFFIX = re.compile(r"(-\d{4}-\d{2}-\d{2}|-\d{8}|@\d{8})$")


@dataclass(frozen=True)
class BilledUsage:
    """One provider's billed usage of one model on one UTC day.

    ``input_tokens`` excludes cache reads and cache writes; ``requests`` is None when the
    report does not count them (Anthropic); ``cost_usd`` is None when the cost report has no
    line for this model that day (unknown, not free).
    """

    provider: str
    day: date
    model: str
    input_tokens: int
    cached_input_tokens: int
    cache_write_tokens: int
    output_tokens: int
    requests: int | None
    cost_usd: Decimal | None


@dataclass(frozen=True)
class UnattributedCost:
    """A billed amount that belongs to no model of the usage report (a tool fee, an embedding model...)."""

    provider: str
    day: date
    line_item: str
    cost_usd: Decimal


@dataclass(frozen=True)
class BillingPull:
    """The result of one pull: every requested day is complete, or the pull raised instead.

    ``days`` lists each requested day (a day without usage is listed and has no rows), so a
    store can replace those days whole.
    """

    provider: str
    days: tuple[date, ...]
    usage: tuple[BilledUsage, ...]
    unattributed: tuple[UnattributedCost, ...]

    def billed_cost(self, day: date) -> Decimal:
        """Everything billed on ``day``: per-model costs plus the unattributed lines."""
        per_model = sum((u.cost_usd for u in self.usage if u.day == day and u.cost_usd is not None), Decimal(0))
        return per_model + sum((c.cost_usd for c in self.unattributed if c.day == day), Decimal(0))


def strip_date(model: str) -> str:
    """``claude-sonnet-4-5-20250929`` -> ``claude-sonnet-4-5``; ``gpt-4o-2024-08-06`` -> ``gpt-4o``."""
    return _DATE_SUFFIX.sub("", model.strip().lower())


def recorded_model_name(billed_model: str, recorded_models: Iterable[str]) -> str | None:
    """Return the recorded model name that ``billed_model`` bills, or None if none does.

    An exact (case-insensitive) match wins; then the billed name without its date suffix;
    then the one recorded name whose undated form equals the billed one's (a recorded dated
    name billed as an alias). Two candidates are ambiguous: None.
    """
    recorded = {name.strip().lower(): name for name in recorded_models}
    wanted = billed_model.strip().lower()
    if wanted in recorded:
        return recorded[wanted]
    base = strip_date(wanted)
    if base in recorded:
        return recorded[base]
    same_base = [name for key, name in recorded.items() if strip_date(key) == base]
    return same_base[0] if len(same_base) == 1 else None


def requested_days(start: date, end: date) -> tuple[date, ...]:
    """The UTC days from ``start`` (inclusive) to ``end`` (exclusive); a ValueError if empty."""
    if not isinstance(start, date) or not isinstance(end, date):
        raise ValueError(f"start and end must be dates, got start={start!r}, end={end!r}")
    if end <= start:
        raise ValueError(f"end must be after start (end is exclusive), got start={start}, end={end}")
    return tuple(start + timedelta(days=n) for n in range((end - start).days))


@dataclass
class UsageSums:
    """Mutable token sums while a report's results are added up per (day, model)."""

    input_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    requests: int | None = None


def combine(
    provider: str,
    usage: Mapping[tuple[date, str], UsageSums],
    costs: Mapping[tuple[date, str], Decimal],
    unattributed: list[UnattributedCost],
    days: tuple[date, ...],
) -> BillingPull:
    """Join per-model costs onto usage rows of the same day and model.

    A cost model matches a usage model exactly, else the one usage model of that day with the
    same undated name; a cost that matches none becomes an ``UnattributedCost``.
    """
    attached: dict[tuple[date, str], Decimal] = {}
    leftover = list(unattributed)
    for (day, model), amount in sorted(costs.items()):
        target = _usage_model_for(day, model, usage)
        if target is None:
            leftover.append(UnattributedCost(provider, day, f"{model} (no usage row)", amount))
        else:
            attached[(day, target)] = attached.get((day, target), Decimal(0)) + amount
    rows = tuple(
        BilledUsage(
            provider=provider,
            day=day,
            model=model,
            input_tokens=sums.input_tokens,
            cached_input_tokens=sums.cached_input_tokens,
            cache_write_tokens=sums.cache_write_tokens,
            output_tokens=sums.output_tokens,
            requests=sums.requests,
            cost_usd=attached.get((day, model)),
        )
        for (day, model), sums in sorted(usage.items())
    )
    leftover.sort(key=lambda c: (c.day, c.line_item))
    return BillingPull(provider=provider, days=days, usage=rows, unattributed=tuple(leftover))


def _usage_model_for(day: date, model: str, usage: Mapping[tuple[date, str], UsageSums]) -> str | None:
    if (day, model) in usage:
        return model
    same = [m for (d, m) in usage if d == day and strip_date(m) == strip_date(model)]
    return same[0] if len(same) == 1 else None
