"""OpenAI organization usage (completions, by model) and costs (by line item), per UTC day.

Sources: openai/openai-openapi ``openapi.yaml`` (``usage-completions``, ``usage-costs``,
``UsageResponse``, ``UsageCompletionsResult``, ``CostsResult``).
"""

from __future__ import annotations

import re
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

PROVIDER = "openai"
KEY_VARIABLE = "OPENAI_ADMIN_KEY"
BASE_URL = "https://api.openai.com"
USAGE_PATH = "/v1/organization/usage/completions"
COSTS_PATH = "/v1/organization/costs"
PAGE_LIMIT = 31
"""Buckets per page: the documented maximum for ``bucket_width=1d`` usage (costs allow 180)."""

_MODEL_LIKE = re.compile(r"^[a-z0-9][a-z0-9._:/-]*$")


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
        key: the admin key; default ``OPENAI_ADMIN_KEY`` from the environment.
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
        key_hint="create one under Organization settings > Admin keys",
    )
    window = {"start_time": _unix(start), "end_time": _unix(end), "bucket_width": "1d", "limit": PAGE_LIMIT}
    usage = parse_usage(endpoint.pages(USAGE_PATH, {**window, "group_by": "model"}), days)
    costs, unattributed = parse_costs(endpoint.pages(COSTS_PATH, {**window, "group_by": "line_item"}), days)
    return combine(PROVIDER, usage, costs, unattributed, days)


def parse_usage(pages: Iterable[Mapping[str, Any]], days: tuple[date, ...]) -> dict[tuple[date, str], UsageSums]:
    """Sum completions usage per (day, model); ``IncompletePull`` if a requested day has no bucket."""
    sums: dict[tuple[date, str], UsageSums] = {}
    seen: set[date] = set()
    for bucket in _buckets(pages, days, seen, USAGE_PATH):
        day = _bucket_day(bucket, USAGE_PATH)
        for result in bucket.get("results") or []:
            model = result.get("model")
            if not model:
                raise IncompletePull(f"openai {USAGE_PATH}: a result has no model (was group_by=model ignored?)")
            total_in = _int(result, "input_tokens")
            cached = _int(result, "input_cached_tokens")
            written = _int(result, "input_cache_write_tokens")
            # input_tokens includes cache reads and writes; newer reports also give the uncached part.
            if result.get("input_uncached_tokens") is None:
                uncached = total_in - cached - written
            else:
                uncached = _int(result, "input_uncached_tokens")
            row = sums.setdefault((day, model), UsageSums(requests=0))
            row.input_tokens += uncached
            row.cached_input_tokens += cached
            row.cache_write_tokens += written
            row.output_tokens += _int(result, "output_tokens")
            row.requests = (row.requests or 0) + _int(result, "num_model_requests")
    _check_days(seen, days, USAGE_PATH)
    return sums


def parse_costs(
    pages: Iterable[Mapping[str, Any]], days: tuple[date, ...]
) -> tuple[dict[tuple[date, str], Decimal], list[UnattributedCost]]:
    """Sum costs per (day, model), the model read from the line item (``"gpt-4o-2024-08-06, input"``).

    A line item that names no model (``"web search tool calls"``, null) is returned unattributed.
    """
    costs: dict[tuple[date, str], Decimal] = {}
    unattributed: list[UnattributedCost] = []
    seen: set[date] = set()
    for bucket in _buckets(pages, days, seen, COSTS_PATH):
        day = _bucket_day(bucket, COSTS_PATH)
        for result in bucket.get("results") or []:
            amount = _usd(result)
            line_item = result.get("line_item")
            model = line_item_model(line_item)
            if model is None:
                unattributed.append(UnattributedCost(PROVIDER, day, str(line_item or "(no line item)"), amount))
            else:
                costs[(day, model)] = costs.get((day, model), Decimal(0)) + amount
    _check_days(seen, days, COSTS_PATH)
    return costs, unattributed


def line_item_model(line_item: object) -> str | None:
    """The model a cost line item bills (``"gpt-4o-2024-08-06, cached input"`` -> the model), or None."""
    if not isinstance(line_item, str) or "," not in line_item:
        return None
    head = line_item.split(",", 1)[0].strip().lower()
    return head if _MODEL_LIKE.match(head) else None


def _headers(key: AdminKey) -> dict[str, str]:
    return {"Authorization": f"Bearer {key.reveal()}", "Accept": "application/json"}


def _unix(day: date) -> int:
    return int(datetime.combine(day, time(0), tzinfo=UTC).timestamp())


def _buckets(
    pages: Iterable[Mapping[str, Any]], days: tuple[date, ...], seen: set[date], path: str
) -> Iterator[Mapping[str, Any]]:
    for page in pages:
        for bucket in page["data"]:
            day = _bucket_day(bucket, path)
            if day in days:
                seen.add(day)
                yield bucket


def _bucket_day(bucket: Mapping[str, Any], path: str) -> date:
    start = bucket.get("start_time")
    if not isinstance(start, int) or start % 86400:
        raise IncompletePull(f"openai {path}: bucket start_time {start!r} is not a UTC midnight")
    return datetime.fromtimestamp(start, UTC).date()


def _check_days(seen: set[date], days: tuple[date, ...], path: str) -> None:
    missing = [d.isoformat() for d in days if d not in seen]
    if missing:
        raise IncompletePull(f"openai {path}: no bucket for {', '.join(missing)} (a day not yet begun?)")


def _int(result: Mapping[str, Any], field: str) -> int:
    value = result.get(field) or 0
    if not isinstance(value, int):
        raise IncompletePull(f"openai: {field} is {value!r}, not an integer")
    return value


def _usd(result: Mapping[str, Any]) -> Decimal:
    amount = result.get("amount") or {}
    value, currency = amount.get("value"), str(amount.get("currency") or "").lower()
    if currency != "usd" or not isinstance(value, int | Decimal):
        raise IncompletePull(f"openai {COSTS_PATH}: amount {amount!r} is not a USD number")
    return Decimal(value)
