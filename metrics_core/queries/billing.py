"""Recorded vs billed: the app's recorded figures next to what OpenAI and Anthropic billed.

Per billing provider, pulled UTC day and model (the recorded alias a dated billed name matched):

* **coverage %** = recorded tokens / billed tokens x 100 — how much of the billed usage the app
  recorded (below 100 %: calls we never saw); None when nothing was billed;
* **drift %** = (recorded cost - billed cost) / billed cost x 100 — with full coverage, a price we
  get wrong; None when either cost is unknown, nothing was billed or some recorded calls are unpriced.

Recorded input is ``prompt_tokens - cache_read_tokens - cache_write_tokens`` (our prompt tokens count
every input token; the providers bill uncached input apart). The recorded side comes from
``llm_costs_daily`` for the remote providers priced as the billing provider (``claude`` for
``anthropic``, ``openai`` for ``openai``; a local provider priced like OpenAI does not count); only
days pulled whole (``llm_billed_days``) are compared. Money is Decimal.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from sqlalchemy import func, select

from .. import storage
from ..money import HUNDRED, ZERO, decimal_or_none, decimal_or_zero, group_cost
from .common import Window, as_date, read_engine, window_of

BILLING_PROVIDERS = storage.BILLING_PROVIDERS
KINDS = ("input", "cached", "cache_write", "output")
#: recorded rollup expression -> billed column, per token kind
_BILLED_COLUMN = {
    "input": "input_tokens",
    "cached": "cached_input_tokens",
    "cache_write": "cache_write_tokens",
    "output": "output_tokens",
}
COVERAGE_EXPLANATION = (
    "Coverage = recorded tokens / billed tokens: under 100% means calls the app never recorded. "
    "Drift = (recorded cost - billed cost) / billed cost: with full coverage, a price we get wrong."
)


def _check_providers(providers) -> tuple[str, ...]:
    if providers is None:
        return storage.BILLING_PROVIDERS
    chosen = (providers,) if isinstance(providers, str) else tuple(providers)
    bad = [p for p in chosen if p not in storage.BILLING_PROVIDERS]
    if bad:
        raise ValueError(f"provider must be one of {', '.join(storage.BILLING_PROVIDERS)}, got {bad[0]!r}")
    return chosen


def recorded_provider_ids(conn, billing_provider: str) -> dict[int, str]:
    """Our providers whose calls ``billing_provider`` bills: remote, priced as it (id -> name)."""
    p = storage.providers
    rows = conn.execute(
        select(p.c.id, p.c.name).where(p.c.pricing_provider == billing_provider, p.c.provider_type == "remote")
    )
    return {r.id: r.name for r in rows}


def recorded_providers(billing_provider: str, *, engine=None) -> list[str]:
    """The names of our providers whose calls ``billing_provider`` bills (``anthropic`` -> ``claude``)."""
    (billing_provider,) = _check_providers([billing_provider])
    with read_engine(engine).connect() as conn:
        return sorted(recorded_provider_ids(conn, billing_provider).values())


def recorded_models(billing_provider: str, *, engine=None) -> list[str]:
    """Every model name ever recorded for the providers ``billing_provider`` bills (to match billed names)."""
    (billing_provider,) = _check_providers([billing_provider])
    t = storage.costs_daily
    with read_engine(engine).connect() as conn:
        ids = list(recorded_provider_ids(conn, billing_provider))
        rows = conn.execute(select(t.c.model).distinct().where(t.c.provider_id.in_(ids)).order_by(t.c.model))
        return [r.model for r in rows]


def billed_status(*, engine=None) -> list[dict]:
    """Per billing provider with pulled days: first and last day pulled, days pulled, last pull time."""
    d = storage.billed_days
    with read_engine(engine).connect() as conn:
        rows = conn.execute(
            select(
                d.c.provider,
                func.min(d.c.day).label("first_day"),
                func.max(d.c.day).label("last_day"),
                func.count().label("days"),
                func.max(d.c.pulled_at).label("pulled_at"),
            )
            .group_by(d.c.provider)
            .order_by(d.c.provider)
        ).all()
    return [
        {
            "provider": r.provider,
            "first_day": as_date(r.first_day),
            "last_day": as_date(r.last_day),
            "days": int(r.days),
            "pulled_at": r.pulled_at,
        }
        for r in rows
    ]


def _coverage(recorded: int, billed: int) -> Decimal | None:
    return Decimal(recorded) * HUNDRED / billed if billed else None


def _drift(recorded: Decimal | None, billed: Decimal | None, unpriced: int) -> Decimal | None:
    if recorded is None or billed is None or not billed or unpriced:
        return None
    return (recorded - billed) * HUNDRED / billed


class _Sums:
    """Recorded and billed sums of one group (a row, a day or a provider's window)."""

    def __init__(self) -> None:
        self.recorded = dict.fromkeys(KINDS, 0)
        self.billed = dict.fromkeys(KINDS, 0)
        self.recorded_requests = 0
        self.billed_requests: int | None = None
        self.recorded_cost = ZERO
        self.unpriced = 0
        self.billed_cost = ZERO
        self.billed_cost_unknown = 0
        self.billed_models: set[str] = set()

    def add_recorded(self, r) -> None:
        self.recorded["input"] += int(r.prompt_tokens) - int(r.cache_read_tokens) - int(r.cache_write_tokens)
        self.recorded["cached"] += int(r.cache_read_tokens)
        self.recorded["cache_write"] += int(r.cache_write_tokens)
        self.recorded["output"] += int(r.completion_tokens)
        self.recorded_requests += int(r.requests)
        self.recorded_cost += decimal_or_zero(r.cost_usd)
        self.unpriced += int(r.unpriced_requests)

    def add_billed(self, b) -> None:
        for kind, column in _BILLED_COLUMN.items():
            self.billed[kind] += int(b[column])
        if b["requests"] is not None:
            self.billed_requests = (self.billed_requests or 0) + int(b["requests"])
        cost = decimal_or_none(b["cost_usd"])
        if cost is None:
            self.billed_cost_unknown += 1
        else:
            self.billed_cost += cost
        self.billed_models.add(b["billed_model"])

    def figures(self, other_cost: Decimal = ZERO) -> dict:
        recorded_cost = group_cost(self.recorded_cost, self.recorded_requests, self.unpriced)
        billed_cost = None if self.billed_cost_unknown else self.billed_cost + other_cost
        out = {
            "billed_models": sorted(self.billed_models),
            "recorded_requests": self.recorded_requests,
            "billed_requests": self.billed_requests,
        }
        for kind in KINDS:
            out[f"recorded_{kind}_tokens"] = self.recorded[kind]
            out[f"billed_{kind}_tokens"] = self.billed[kind]
            out[f"{kind}_coverage_pct"] = _coverage(self.recorded[kind], self.billed[kind])
        recorded_tokens, billed_tokens = sum(self.recorded.values()), sum(self.billed.values())
        out.update(
            recorded_tokens=recorded_tokens,
            billed_tokens=billed_tokens,
            coverage_pct=_coverage(recorded_tokens, billed_tokens),
            recorded_cost_usd=recorded_cost,
            billed_cost_usd=billed_cost,
            gap_usd=None if recorded_cost is None or billed_cost is None else recorded_cost - billed_cost,
            drift_pct=_drift(recorded_cost, billed_cost, self.unpriced),
            unpriced_requests=self.unpriced,
        )
        return out


def reconciliation(days: int | None = None, *, window: Window | None = None, providers=None, engine=None) -> dict:
    """Recorded vs billed per (billing provider, day, model), per (provider, day) and per provider.

    Args:
        days: the last N UTC days (default 30), or ``window``.
        providers: billing providers (``openai``, ``anthropic``); default both.

    Returns:
        ``{"window_start", "window_end", "explanation", "providers": [...], "days": [...], "rows": [...]}``:
        ``rows`` per day and model, ``days`` per provider and day (for a chart), ``providers`` the
        overall line of each provider with pulled days (billed cost there includes the line items
        no model row holds, ``other_cost_usd``). Only days pulled whole are compared.
    """
    window = window_of(days, window, 30)
    chosen = _check_providers(providers)
    engine = read_engine(engine)
    d, b, t = storage.billed_days, storage.billed_daily, storage.costs_daily
    rows: dict[tuple, _Sums] = defaultdict(_Sums)
    per_day: dict[tuple, _Sums] = defaultdict(_Sums)
    overall: dict[str, _Sums] = defaultdict(_Sums)
    other: dict[tuple, Decimal] = defaultdict(lambda: ZERO)
    with engine.connect() as conn:
        in_window = (d.c.day >= window.start, d.c.day <= window.end, d.c.provider.in_(chosen))
        pulled = {(r.provider, as_date(r.day)) for r in conn.execute(select(d.c.provider, d.c.day).where(*in_window))}
        billed = conn.execute(
            select(b).where(b.c.day >= window.start, b.c.day <= window.end, b.c.provider.in_(chosen))
        ).mappings()
        for line in billed:
            key = (line["provider"], as_date(line["day"]))
            if key not in pulled:
                continue
            if line["kind"] == "other":
                other[key] += decimal_or_zero(line["cost_usd"])
                continue
            model = line["recorded_model"] or line["billed_model"]
            for group in (rows[(*key, model)], per_day[key], overall[key[0]]):
                group.add_billed(line)
        for provider in chosen:
            ids = list(recorded_provider_ids(conn, provider))
            recorded = conn.execute(
                select(
                    t.c.day,
                    t.c.model,
                    *[
                        func.coalesce(func.sum(t.c[m]), 0).label(m)
                        for m in (
                            "requests",
                            "prompt_tokens",
                            "completion_tokens",
                            "cache_read_tokens",
                            "cache_write_tokens",
                            "cost_usd",
                            "unpriced_requests",
                        )
                    ],
                )
                .where(t.c.provider_id.in_(ids), t.c.day >= window.start, t.c.day <= window.end)
                .group_by(t.c.day, t.c.model)
            )
            for r in recorded:
                key = (provider, as_date(r.day))
                if key in pulled:
                    for group in (rows[(*key, r.model)], per_day[key], overall[provider]):
                        group.add_recorded(r)
    for key in pulled:  # a pulled day with nothing billed or recorded still has its line
        per_day.setdefault(key, _Sums())
        overall.setdefault(key[0], _Sums())
    other_by_provider = {p: sum((v for (q, _), v in other.items() if q == p), ZERO) for p in overall}
    return {
        "window_start": window.start.isoformat(),
        "window_end": window.end.isoformat(),
        "explanation": COVERAGE_EXPLANATION,
        "providers": [
            {
                "provider": provider,
                "days_pulled": sum(1 for p, _ in pulled if p == provider),
                "first_day": min(day for p, day in pulled if p == provider),
                "last_day": max(day for p, day in pulled if p == provider),
                "other_cost_usd": other_by_provider[provider],
                **sums.figures(other_by_provider[provider]),
            }
            for provider, sums in sorted(overall.items())
        ],
        "days": [
            {
                "provider": p,
                "day": day,
                "other_cost_usd": other.get((p, day), ZERO),
                **s.figures(other.get((p, day), ZERO)),
            }
            for (p, day), s in sorted(per_day.items())
        ],
        "rows": [{"provider": p, "day": day, "model": m, **s.figures()} for (p, day, m), s in sorted(rows.items())],
    }


def largest_gaps(result: dict, limit: int = 10) -> list[dict]:
    """The rows of ``reconciliation()`` with the largest gaps: cost gap first, then missing tokens.

    Rows with no gap (same cost, same tokens) are left out; rows whose cost gap is unknown come after
    the known ones, ordered by their token gap.
    """
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise ValueError(f"limit must be a whole number >= 1, got {limit!r}")

    def token_gap(r: dict) -> int:
        return abs(r["billed_tokens"] - r["recorded_tokens"])

    gaps = [r for r in result["rows"] if token_gap(r) or r["gap_usd"] is None or r["gap_usd"] != 0]
    gaps.sort(
        key=lambda r: (
            r["gap_usd"] is None,
            -abs(r["gap_usd"] or ZERO),
            -token_gap(r),
            r["provider"],
            r["day"],
            r["model"],
        )
    )
    return gaps[:limit]
