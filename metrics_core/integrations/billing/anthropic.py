"""Anthropic Admin API: messages usage report (by model) and cost report (by description), per UTC day.

Sources: Anthropic API reference, "Usage Report" (``GET /v1/organizations/usage_report/messages``)
and "Cost Report" (``GET /v1/organizations/cost_report``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

import httpx

from metrics_core.integrations.billing.errors import IncompletePull
from metrics_core.integrations.billing.fetch import (
    DEFAULT_TIMEOUT,
    MAX_ATTEMPTS,
    AdminKey,
    Endpoint,
    default_sleep,
)
from metrics_core.integrations.billing.records import (
    BillingPull,
    UnattributedCost,
    UsageSums,
    combine,
    requested_days,
)

PROVIDER = "anthropic"
KEY_VARIABLE = "ANTHROPIC_ADMIN_KEY"
BASE_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"
USAGE_PATH = "/v1/organizations/usage_report/messages"
COSTS_PATH = "/v1/organizations/cost_report"
PAGE_LIMIT = 31
"""Buckets per page: the documented maximum for ``bucket_width=1d``."""
CENTS = Decimal(100)


def pull(
    *,
    start: date,
    end: date,
    key: AdminKey | None = None,
    client: httpx.Client | None = None,
    base_url: str = BASE_URL,
    timeout: float = DEFAULT_TIMEOUT,
    max_attempts: int = MAX_ATTEMPTS,
    sleep: Callable[[float], None] = default_sleep,
) -> BillingPull:
    """Pull billed usage and cost per (day, model) for the UTC days ``start`` .. ``end`` (exclusive).

    Args:
        key: the admin key (``sk-ant-admin...``); default ``ANTHROPIC_ADMIN_KEY`` from the environment.
        client: an ``httpx.Client`` to send through (tests pass a ``MockTransport``).
        sleep: how to wait between retries (tests pass a recorder).

    Returns:
        A ``BillingPull`` whose ``days`` are all complete. Any failure raises a ``BillingError``
        instead: a pull is never returned partial.
    """
    days = requested_days(start, end)
    endpoint = Endpoint(
        provider=PROVIDER,
        key=key or AdminKey.from_env(KEY_VARIABLE),
        base_url=base_url,
        headers=_headers,
        client=client,
        timeout=timeout,
        max_attempts=max_attempts,
        sleep=sleep,
        key_hint="an Admin API key starts with sk-ant-admin",
    )
    window = {"starting_at": _rfc3339(start), "ending_at": _rfc3339(end), "bucket_width": "1d", "limit": PAGE_LIMIT}
    usage = parse_usage(endpoint.pages(USAGE_PATH, {**window, "group_by[]": "model"}), days)
    costs, unattributed = parse_costs(endpoint.pages(COSTS_PATH, {**window, "group_by[]": "description"}), days)
    return combine(PROVIDER, usage, costs, unattributed, days)


def parse_usage(pages: Iterable[Mapping[str, Any]], days: tuple[date, ...]) -> dict[tuple[date, str], UsageSums]:
    """Sum messages usage per (day, model); ``IncompletePull`` if a requested day has no bucket."""
    sums: dict[tuple[date, str], UsageSums] = {}
    seen: set[date] = set()
    for day, bucket in _buckets(pages, days, seen, USAGE_PATH):
        for result in bucket.get("results") or []:
            model = result.get("model")
            if not model:
                raise IncompletePull(f"anthropic {USAGE_PATH}: a result has no model (was group_by[]=model ignored?)")
            creation = result.get("cache_creation") or {}
            row = sums.setdefault((day, model), UsageSums())
            row.input_tokens += _int(result, "uncached_input_tokens")
            row.cached_input_tokens += _int(result, "cache_read_input_tokens")
            row.cache_write_tokens += _int(creation, "ephemeral_5m_input_tokens") + _int(
                creation, "ephemeral_1h_input_tokens"
            )
            row.output_tokens += _int(result, "output_tokens")
    _check_days(seen, days, USAGE_PATH)
    return sums


def parse_costs(
    pages: Iterable[Mapping[str, Any]], days: tuple[date, ...]
) -> tuple[dict[tuple[date, str], Decimal], list[UnattributedCost]]:
    """Sum costs per (day, model) in USD; ``amount`` is a decimal string of cents.

    A line without a model (web search, code execution, session usage) is returned unattributed.
    """
    costs: dict[tuple[date, str], Decimal] = {}
    unattributed: list[UnattributedCost] = []
    seen: set[date] = set()
    for day, bucket in _buckets(pages, days, seen, COSTS_PATH):
        for result in bucket.get("results") or []:
            amount = _usd(result)
            model = result.get("model")
            if model:
                costs[(day, model)] = costs.get((day, model), Decimal(0)) + amount
            else:
                line = result.get("description") or result.get("cost_type") or "(no description)"
                unattributed.append(UnattributedCost(PROVIDER, day, str(line), amount))
    _check_days(seen, days, COSTS_PATH)
    return costs, unattributed


def _headers(key: AdminKey) -> dict[str, str]:
    return {"x-api-key": key.reveal(), "anthropic-version": API_VERSION, "Accept": "application/json"}


def _rfc3339(day: date) -> str:
    return f"{day.isoformat()}T00:00:00Z"


def _buckets(
    pages: Iterable[Mapping[str, Any]], days: tuple[date, ...], seen: set[date], path: str
) -> Iterator[tuple[date, Mapping[str, Any]]]:
    for page in pages:
        for bucket in page["data"]:
            try:
                start = datetime.fromisoformat(str(bucket.get("starting_at")).replace("Z", "+00:00"))
            except ValueError:
                raise IncompletePull(f"anthropic {path}: bucket starting_at {bucket.get('starting_at')!r}") from None
            if start.utcoffset() is None or start.astimezone(UTC).time() != time(0):
                raise IncompletePull(f"anthropic {path}: bucket starting_at {start.isoformat()} is not a UTC midnight")
            day = start.astimezone(UTC).date()
            if day in days:
                seen.add(day)
                yield day, bucket


def _check_days(seen: set[date], days: tuple[date, ...], path: str) -> None:
    missing = [d.isoformat() for d in days if d not in seen]
    if missing:
        raise IncompletePull(f"anthropic {path}: no bucket for {', '.join(missing)} (a day not yet begun?)")


def _int(result: Mapping[str, Any], field: str) -> int:
    value = result.get(field) or 0
    if not isinstance(value, int):
        raise IncompletePull(f"anthropic: {field} is {value!r}, not an integer")
    return value


def _usd(result: Mapping[str, Any]) -> Decimal:
    amount, currency = result.get("amount"), str(result.get("currency") or "").upper()
    if currency != "USD" or not isinstance(amount, str):
        raise IncompletePull(f"anthropic {COSTS_PATH}: amount {amount!r} {currency} is not USD cents")
    try:
        return Decimal(amount) / CENTS
    except ArithmeticError:
        raise IncompletePull(f"anthropic {COSTS_PATH}: amount {amount!r} is not a number") from None
