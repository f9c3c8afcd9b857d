"""Reservations: a hard budget that holds under concurrency.

``reserve()`` holds a call's worst-case cost against every hard budget whose scope the call falls
in, *before* the call, in one locked transaction with the check (SQLite: ``BEGIN IMMEDIATE``;
PostgreSQL: ``SELECT ... FOR UPDATE`` on the budget rows, in id order): a budget admits a call only
while spent + held + this call's worst case <= its amount, so concurrent calls from any number of
processes cannot overshoot it. ``Reservation.record()`` records the call synchronously (its actual
cost lands in the rollups) and only then deletes the hold, so the budget never counts less than
the truth; for that instant it counts both.

Worst case: every prompt token at the dearer of the input and cache-write price plus every
possible output token at the output price, on the call's own price data (a price override, else
genai-prices at the call's time). A prompt whose token count is unknown is bounded by the UTF-8
byte count of its text (a byte-level tokenizer never makes more tokens than bytes). Local providers
cost nothing and hold nothing; a model without a price holds nothing either (its calls are
unpriced and not in any spend). A hold whose process dies stops counting after
``LLM_METRICS_RESERVATION_TTL`` seconds (default 600) and stays, counted as expired.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import bindparam, delete, select

from .. import clock, storage
from ..config import settings
from ..errors import BudgetExceeded
from ..money import ZERO, decimal_or_zero
from ..pricing import PriceOverride, TokenUsage, catalog_price
from ..recording import get_writer, record_request
from ..recording.batch import write_batch
from ..recording.registry import OVERRIDES_TTL, ProviderCache, load_overrides
from ..recording.tracking import status_of
from .budgets import Budget, budget_from_row, period_bounds, period_label
from .enforcement import MONEY_PLACES, spent_and_held

__all__ = ["Reservation", "prompt_token_bound", "release_holds", "reserve", "worst_case_cost"]

log = logging.getLogger("metrics_core.reservations")


def prompt_token_bound(text: str) -> int:
    """An upper bound of the tokens ``text`` can make: its UTF-8 byte count."""
    if not isinstance(text, str):
        raise ValueError(f"prompt_text must be a string, got {type(text).__name__}")
    return len(text.encode("utf-8"))


# -- the call's own price data (cached like the writer's: changes apply within OVERRIDES_TTL) -----

_cache_lock = threading.Lock()
_cache: dict[str, tuple[float, dict, dict]] = {}  # url -> (loaded at, providers, overrides)


def _price_data(engine, provider: str) -> tuple[tuple[str, str | None], dict[tuple[str, str], PriceOverride]]:
    """((provider_type, pricing_provider), overrides) for ``provider``, as the writer would price it."""
    url = str(engine.url)
    with _cache_lock:
        entry = _cache.get(url)
    if entry is None or entry[0] < time.monotonic() - OVERRIDES_TTL or provider not in entry[1]:
        p = storage.providers
        with engine.connect() as conn:
            known = {
                r.name: (r.provider_type, r.pricing_provider)
                for r in conn.execute(select(p.c.name, p.c.provider_type, p.c.pricing_provider))
            }
            overrides = load_overrides(conn)
        entry = (time.monotonic(), known, overrides)
        with _cache_lock:
            _cache[url] = entry
    info = entry[1].get(provider)
    if info is None:  # registered on first record: the same rule as recording.registry
        cfg = settings()
        local = provider in cfg.local_providers
        info = ("local", None) if local else ("remote", cfg.pricing_providers.get(provider.lower(), provider.lower()))
    return info, entry[2]


def worst_case_cost(
    *,
    provider_type: str,
    pricing_provider: str | None,
    model: str,
    prompt_tokens: int,
    max_output_tokens: int,
    at: datetime,
    override: PriceOverride | None = None,
) -> Decimal | None:
    """The most a call can cost: every prompt token at the dearer of the input and cache-write
    price, every possible output token at the output price. 0 for a local provider; None when the
    model has no price (the call will be unpriced)."""
    if provider_type == "local":
        return ZERO
    plain = TokenUsage(prompt_tokens=prompt_tokens, completion_tokens=max_output_tokens)
    written = TokenUsage(
        prompt_tokens=prompt_tokens, completion_tokens=max_output_tokens, cache_write_tokens=prompt_tokens
    )
    if override is not None:
        return max(override.cost(plain), override.cost(written))
    cost = catalog_price(pricing_provider, model, plain, at)
    if cost is None:
        return None
    with_writes = catalog_price(pricing_provider, model, written, at)
    return cost if with_writes is None else max(cost, with_writes)


# -- the reservation ------------------------------------------------------------------------------


class Reservation:
    """A call's hold on the hard budgets covering it; a context manager.

    ``record(...)`` records the call (``record_request``'s arguments, provider and model implied)
    and releases the hold; leaving the ``with`` block without it releases the hold; an exception
    inside records the call as failed and releases it.
    """

    def __init__(self, *, id: str, provider: str, model: str, tags, amount, holds, engine, stored=False) -> None:
        self.id = id
        self.provider = provider
        self.model = model
        self.tags = dict(tags) if tags else None
        #: the worst-case cost held (Decimal), 0 for local providers, None when the model is unpriced
        self.amount: Decimal | None = amount
        #: (budget name, amount held) per hard budget covering the call
        self.holds: list[tuple[str, Decimal]] = holds
        self.engine = engine
        self.stored = stored or bool(holds)  # rows to delete when it is settled or released
        self.done = False

    @property
    def held(self) -> Decimal:
        return sum((a for _, a in self.holds), ZERO)

    def record(self, *, status: str, **kwargs) -> None:
        """Record the call (``record_request`` arguments but provider_name/model) and release the hold.

        The record is written before the hold goes, so other processes never see neither. If the
        write fails (the database is down: the writer keeps the record queued), the hold is kept
        and expires after the TTL, so the budget stays conservative.
        """
        if self.done:
            raise ValueError(f"reservation {self.id} is already settled or released")
        kwargs.setdefault("tags", self.tags)
        kwargs.pop("sync", None)  # always written before the hold goes
        items: list[tuple] = []
        model = kwargs.pop("model", None) or self.model  # the model the provider reports, when known
        record_request(provider_name=self.provider, model=model, status=status, _into=items, **kwargs)
        self.done = True
        writer = get_writer()
        if storage.get_engine(writer.url) is self.engine:
            errors_before = writer.write_errors
            writer.write_now(items[0])  # on a storage fault it queues the record and counts the error
            written = writer.write_errors == errors_before
        else:  # a database other than the recorder's (an explicit engine, the HTTP API's)
            try:
                write_batch(self.engine, items, ProviderCache(), {})
                written = True
            except Exception:
                log.exception("could not record the call of reservation %s; its hold stays until it expires", self.id)
                written = False
        if written:
            self._delete()

    def release(self) -> None:
        """Give the hold back without recording a call (the call was not made)."""
        if not self.done:
            self.done = True
            self._delete()

    def _delete(self) -> None:
        if self.stored:
            release_holds(self.engine, self.id)

    def __enter__(self) -> Reservation:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.done:
            return
        if exc is None:
            self.release()
            return
        message = str(exc)
        try:
            self.record(
                status=status_of(exc),
                error_message=f"{type(exc).__name__}: {message}" if message else type(exc).__name__,
            )
        except Exception:
            self.done = False
            self.release()

    @classmethod
    def load(cls, reservation: str, engine=None) -> Reservation | None:
        """The reservation with this id, from its stored holds (None: settled, released or unknown)."""
        engine = engine if engine is not None else storage.get_engine()
        h, b = storage.budget_holds, storage.budgets
        with engine.connect() as conn:
            rows = conn.execute(
                select(h, b.c.name).outerjoin(b, b.c.id == h.c.budget_id).where(h.c.reservation == reservation)
            ).all()
        if not rows:
            return None
        first = rows[0]
        holds = [(r.name, decimal_or_zero(r.amount_usd)) for r in rows if r.budget_id is not None]
        return cls(
            id=reservation,
            provider=first.provider_name,
            model=first.model,
            tags=json.loads(first.tags) if first.tags else None,
            amount=decimal_or_zero(first.amount_usd),
            holds=holds,
            engine=engine,
            stored=True,
        )

    def __repr__(self) -> str:
        return f"Reservation({self.id!r}, {self.provider!r}, {self.model!r}, held={self.held})"


_h = storage.budget_holds
_b = storage.budgets
# built once (a cached statement runs ~10x faster than one built per call)
_DELETE = delete(_h).where(_h.c.reservation == bindparam("rid"))
_HARD = select(_b).where(_b.c.hard.is_(True)).order_by(_b.c.name)
_COVERING_LOCKED = (
    select(_b).where(_b.c.id.in_(bindparam("ids", expanding=True)), _b.c.hard.is_(True)).order_by(_b.c.id)
).with_for_update()
_INSERT = _h.insert()


def release_holds(engine, reservation: str) -> int:
    """Delete a reservation's holds; how many there were. No budget lock is needed: checks read spend
    and holds in one statement, and the call's record is committed before its hold goes."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":  # one statement: no BEGIN/COMMIT round trips
            return conn.execution_options(isolation_level="AUTOCOMMIT").execute(_DELETE, {"rid": reservation}).rowcount
        with conn.execution_options(immediate=True).begin():
            return conn.execute(_DELETE, {"rid": reservation}).rowcount


def reserve(
    provider: str,
    model: str,
    *,
    max_output_tokens: int,
    prompt_tokens: int | None = None,
    prompt_text: str | None = None,
    tags: Mapping[str, str] | None = None,
    ttl_seconds: float | None = None,
    keep_unbudgeted: bool = False,
    engine=None,
) -> Reservation:
    """Hold the call's worst-case cost against every hard budget covering it, or raise.

    Args:
        provider: our provider name, e.g. ``claude``.
        model: the model name as sent to the provider.
        max_output_tokens: the most output tokens the call may produce (its ``max_tokens``).
        prompt_tokens: every input token, if known; else bounded from ``prompt_text``.
        prompt_text: the request's text (all of it: system, messages, tools), when the count is unknown.
        tags: the call's tags (tag-scoped budgets).
        ttl_seconds: how long an unsettled hold counts; default ``LLM_METRICS_RESERVATION_TTL``.
        keep_unbudgeted: store a row even when no hard budget covers the call (the HTTP API's
            reservations are settled by id from another request).

    Returns:
        A ``Reservation`` (a context manager); ``record()`` it after the call.

    Raises:
        BudgetExceeded: spent + held + this call's worst case would pass a budget's amount; names
            the budget, its amount, its spend and what is held. Nothing is held then.
        ValueError: an argument is invalid.
    """
    for field, value in (("provider", provider), ("model", model)):
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{field} must be a non-empty string, got {value!r}")
    max_output_tokens = _tokens("max_output_tokens", max_output_tokens)
    if prompt_tokens is None:
        if prompt_text is None:
            raise ValueError("give prompt_tokens, or prompt_text to bound them by its UTF-8 byte count")
        prompt_tokens = prompt_token_bound(prompt_text)
    else:
        prompt_tokens = _tokens("prompt_tokens", prompt_tokens)
    ttl = settings().reservation_ttl_seconds if ttl_seconds is None else ttl_seconds
    if not isinstance(ttl, (int, float)) or isinstance(ttl, bool) or not 0 < ttl < 10**7:
        raise ValueError(f"ttl_seconds must be a number of seconds > 0, got {ttl!r}")
    tags = dict(tags) if tags else None
    engine = engine if engine is not None else storage.get_engine()
    now = clock.utc_now()
    (provider_type, pricing_provider), overrides = _price_data(engine, provider)
    override = (overrides.get((provider, model)) or overrides.get(("*", model))) if overrides else None
    amount = worst_case_cost(
        provider_type=provider_type,
        pricing_provider=pricing_provider,
        model=model,
        prompt_tokens=prompt_tokens,
        max_output_tokens=max_output_tokens,
        at=now,
        override=override,
    )
    if amount:
        amount = amount.quantize(MONEY_PLACES, rounding="ROUND_CEILING")
    rid = uuid.uuid4().hex
    holds: list[tuple[str, Decimal]] = []
    if amount:  # local (0) and unpriced (None) calls hold nothing
        holds = _hold(engine, rid, amount, provider, model, tags, now, ttl)
    stored = bool(holds)
    if keep_unbudgeted and not holds:
        _insert(engine, rid, [None], amount or ZERO, provider, model, tags, now, ttl)
        stored = True
    return Reservation(
        id=rid, provider=provider, model=model, tags=tags, amount=amount, holds=holds, engine=engine, stored=stored
    )


def _tokens(field: str, value) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{field} must be a whole number >= 0, got {value!r}")
    return value


def _rows(rid, budget_ids, amount, provider, model, tags, now, ttl) -> list[dict]:
    expires = now + timedelta(seconds=ttl)
    text = json.dumps(tags, sort_keys=True) if tags else None
    return [
        dict(
            reservation=rid,
            budget_id=bid,
            amount_usd=amount,
            provider_name=provider,
            model=model,
            tags=text,
            created_at=now,
            expires_at=expires,
        )
        for bid in budget_ids
    ]


def _insert(engine, rid, budget_ids, amount, provider, model, tags, now, ttl) -> None:
    with engine.begin() as conn:
        conn.execute(storage.budget_holds.insert(), _rows(rid, budget_ids, amount, provider, model, tags, now, ttl))


def _hold(engine, rid, amount, provider, model, tags, now, ttl) -> list[tuple[str, Decimal]]:
    """Check and hold in one locked transaction; raises ``BudgetExceeded`` (nothing held)."""
    with engine.connect() as conn:
        postgresql = conn.dialect.name == "postgresql"
        hard = [budget_from_row(r) for r in conn.execute(_HARD)]
        covering = [x.id for x in hard if x.applies_to(provider=provider, model=model, tags=tags)]
        if not covering:
            return []  # no lock taken
        if postgresql:
            # the same transaction goes on (READ COMMITTED: each statement sees what is committed when it
            # starts); the budget rows' locks are the lock: concurrent holds on them queue here
            transaction = conn.get_transaction()
            budgets: list[Budget] = [budget_from_row(r) for r in conn.execute(_COVERING_LOCKED, {"ids": covering})]
        else:
            conn.rollback()
            transaction = conn.execution_options(immediate=True).begin()  # BEGIN IMMEDIATE: the write lock
            budgets = [x for x in hard if x.id in covering]  # an edit since the read counts as just after
        with transaction:
            for budget, (spent, on_hold) in zip(budgets, spent_and_held(conn, budgets, now), strict=True):
                if spent + on_hold + amount > budget.amount_usd:
                    start = period_bounds(budget.period, now.date())[0]
                    raise BudgetExceeded(
                        budget.name,
                        spent,
                        budget.amount_usd,
                        period_label(budget.period, start),
                        held=on_hold,
                        requested=amount,
                    )
            if budgets:
                rows = _rows(rid, [x.id for x in budgets], amount, provider, model, tags, now, ttl)
                conn.execute(_INSERT, rows)
    return [(x.name, amount) for x in budgets]
