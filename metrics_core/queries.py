"""Every aggregate the dashboard, notebooks, reports and CLI share.

Totals come from the daily rollups (``llm_costs_daily``, ``llm_tag_costs_daily``,
``llm_latency_daily``), never from raw rows, so their cost stays flat as ``llm_requests`` grows;
only the request log pages through raw rows. A window is a range of whole UTC days: ``days=7``
means today and the six days before it. Money is ``Decimal`` here; the facade turns it into floats.
Each function flushes this process's pending records first, so a read sees every record made
before it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pandas as pd
from sqlalchemy import and_, case, func, literal, select

from . import db, latency
from .config import settings
from .recorder import flush

ZERO = Decimal(0)
PERCENTILES = (50.0, 95.0, 99.0)


@dataclass(frozen=True)
class Window:
    """A range of whole UTC days, both ends included."""

    start: date
    end: date

    @classmethod
    def last(cls, days: int, today: date | None = None) -> Window:
        if not isinstance(days, int) or isinstance(days, bool) or days < 1:
            raise ValueError(f"days must be a whole number >= 1, got {days!r}")
        today = today or utc_today()
        return cls(today - timedelta(days=days - 1), today)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Window:
        """The window of the same length just before this one (for deltas)."""
        return Window(self.start - timedelta(days=self.days), self.start - timedelta(days=1))

    def dates(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range(self.days)]


def utc_today() -> date:
    return datetime.now(UTC).date()


def _window(days: int | None, window: Window | None, default: int) -> Window:
    if window is not None:
        return window
    return Window.last(default if days is None else days)


def _engine(engine=None):
    flush()
    return engine if engine is not None else db.get_engine()


def _filters(table, window: Window, providers: list[str] | None, models: list[str] | None, conn):
    conds = [table.c.day >= window.start, table.c.day <= window.end]
    if providers:
        ids = select(db.providers.c.id).where(db.providers.c.name.in_(providers))
        conds.append(table.c.provider_id.in_(ids))
    if models:
        conds.append(table.c.model.in_(models))
    return and_(*conds)


def _sums(table):
    return [func.coalesce(func.sum(table.c[m]), 0).label(m) for m in db.DAILY_MEASURES]


def _money(value) -> Decimal:
    if value is None:
        return ZERO
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _usage_figures(row, pct: dict[float, float | None]) -> dict:
    total = int(row.requests or 0)
    ok = int(row.successful_requests or 0)
    count = int(row.duration_count or 0)
    ttft_count = int(row.ttft_count or 0)
    return {
        "total_requests": total,
        "successful_requests": ok,
        "failed_requests": int(row.failed_requests or 0),
        "success_rate": round(ok / total * 100, 2) if total else 0.0,
        "total_prompt_tokens": int(row.prompt_tokens or 0),
        "total_completion_tokens": int(row.completion_tokens or 0),
        "total_tokens": int((row.prompt_tokens or 0) + (row.completion_tokens or 0)),
        "cache_read_tokens": int(row.cache_read_tokens or 0),
        "cache_write_tokens": int(row.cache_write_tokens or 0),
        "reasoning_tokens": int(row.reasoning_tokens or 0),
        "avg_response_time_ms": round(float(row.duration_sum_ms) / count, 1) if count else 0.0,
        "p50_response_time_ms": round(pct.get(50.0) or 0.0, 1),
        "p95_response_time_ms": round(pct.get(95.0) or 0.0, 1),
        "p99_response_time_ms": round(pct.get(99.0) or 0.0, 1),
        "avg_ttft_ms": round(float(row.ttft_sum_ms) / ttft_count, 1) if ttft_count else None,
    }


def _histogram_levels(conn, window, providers, models, kind="duration") -> dict[str, dict[tuple, dict[int, int]]]:
    """The latency histogram summed per total, provider and (provider, model), from one read:
    ``{"total": {(): {bucket: n}}, "provider": {(name,): ...}, "model": {(name, model): ...}}``."""
    t, p = db.latency_daily, db.providers
    names = dict(conn.execute(select(p.c.id, p.c.name)).all())
    q = (
        select(t.c.provider_id, t.c.model, t.c.bucket, func.sum(t.c.count).label("n"))
        .where(_filters(t, window, providers, models, conn), t.c.kind == kind)
        .group_by(t.c.provider_id, t.c.model, t.c.bucket)
    )
    levels: dict[str, dict[tuple, dict[int, int]]] = {"total": {}, "provider": {}, "model": {}}
    for provider_id, model, bucket, n in conn.execute(q):
        name = names[provider_id]
        for level, key in (("total", ()), ("provider", (name,)), ("model", (name, model))):
            counts = levels[level].setdefault(key, {})
            counts[bucket] = counts.get(bucket, 0) + int(n)
    return levels


def _level_percentiles(levels: dict, level: str) -> dict[tuple, dict[float, float | None]]:
    return {k: latency.percentiles(v.items(), PERCENTILES) for k, v in levels[level].items()}


def metrics(
    days: int | None = None,
    *,
    window: Window | None = None,
    providers: list[str] | None = None,
    models: list[str] | None = None,
    engine=None,
) -> dict:
    """Usage over a window: requests, success rate, tokens, latency (avg and p50/p95/p99).

    Percentiles come from the latency histogram, within about 1% of the exact value. Every call
    with a duration counts, failed ones included. ``by_provider`` and ``by_model`` break it down.
    """
    window = _window(days, window, 7)
    engine = _engine(engine)
    t, p = db.costs_daily, db.providers
    with engine.connect() as conn:
        where = _filters(t, window, providers, models, conn)
        total = conn.execute(select(*_sums(t)).where(where)).one()
        levels = _histogram_levels(conn, window, providers, models)  # one read for all three levels
        pct = _level_percentiles(levels, "total").get((), {})
        result = _usage_figures(total, pct)
        result.update(window_start=window.start.isoformat(), window_end=window.end.isoformat(), days=window.days)
        joined = t.join(p, p.c.id == t.c.provider_id)
        by_p = conn.execute(
            select(p.c.name.label("provider"), *_sums(t))
            .select_from(joined)
            .where(where)
            .group_by(p.c.name)
            .order_by(func.sum(t.c.requests).desc(), p.c.name)
        ).all()
        pct_p = _level_percentiles(levels, "provider")
        result["by_provider"] = [
            {"provider": r.provider, **_usage_figures(r, pct_p.get((r.provider,), {}))} for r in by_p
        ]
        by_m = conn.execute(
            select(p.c.name.label("provider"), t.c.model, *_sums(t))
            .select_from(joined)
            .where(where)
            .group_by(p.c.name, t.c.model)
            .order_by(func.sum(t.c.requests).desc(), p.c.name, t.c.model)
        ).all()
        pct_m = _level_percentiles(levels, "model")
        result["by_model"] = [
            {"provider": r.provider, "model": r.model, **_usage_figures(r, pct_m.get((r.provider, r.model), {}))}
            for r in by_m
        ]
    return result


def _cost_figures(row) -> dict:
    cost = _money(row.cost_usd)
    hypothetical = _money(row.reference_cost_usd)
    priced_ref = _money(row.priced_reference_cost_usd)
    savings = priced_ref - cost
    return {
        "total_requests": int(row.requests or 0),
        "total_cost_usd": cost,
        "hypothetical_claude_cost_usd": hypothetical,
        "priced_hypothetical_cost_usd": priced_ref,
        "estimated_savings_usd": savings,
        "savings_percentage": (savings / priced_ref * 100) if priced_ref else ZERO,
        "unpriced_requests": int(row.unpriced_requests or 0),
        "prompt_tokens": int(row.prompt_tokens or 0),
        "completion_tokens": int(row.completion_tokens or 0),
    }


def cost_summary(
    days: int | None = None,
    *,
    window: Window | None = None,
    providers: list[str] | None = None,
    models: list[str] | None = None,
    engine=None,
) -> dict:
    """Spend, what the same traffic would have cost on the reference model, and the savings.

    ``hypothetical_claude_cost_usd`` sums every call's reference cost; savings and their
    percentage compare priced calls only (an unpriced call has no actual cost to compare), so
    ``savings_percentage`` = savings / reference cost of the priced calls x 100 — the same as
    savings / hypothetical whenever every call is priced. Money values are Decimal.
    """
    window = _window(days, window, 30)
    engine = _engine(engine)
    t, p = db.costs_daily, db.providers
    with engine.connect() as conn:
        where = _filters(t, window, providers, models, conn)
        joined = t.join(p, p.c.id == t.c.provider_id)
        by_type = {
            r.provider_type: int(r.n)
            for r in conn.execute(
                select(p.c.provider_type, func.coalesce(func.sum(t.c.requests), 0).label("n"))
                .select_from(joined)
                .where(where)
                .group_by(p.c.provider_type)
            )
        }
        total = conn.execute(select(*_sums(t)).where(where)).one()
        result = _cost_figures(total)
        result.update(
            local_requests=by_type.get("local", 0),
            remote_requests=by_type.get("remote", 0),
            reference_model=settings().reference_model,
            window_start=window.start.isoformat(),
            window_end=window.end.isoformat(),
            days=window.days,
        )
        by_p = conn.execute(
            select(p.c.name.label("provider"), p.c.display_name, p.c.provider_type, *_sums(t))
            .select_from(joined)
            .where(where)
            .group_by(p.c.name, p.c.display_name, p.c.provider_type)
            .order_by(p.c.name)
        ).all()
        result["by_provider"] = [
            {
                "provider": r.provider,
                "display_name": r.display_name,
                "provider_type": r.provider_type,
                **_cost_figures(r),
            }
            for r in by_p
        ]
        by_m = conn.execute(
            select(p.c.name.label("provider"), p.c.provider_type, t.c.model, *_sums(t))
            .select_from(joined)
            .where(where)
            .group_by(p.c.name, p.c.provider_type, t.c.model)
            .order_by(p.c.name, t.c.model)
        ).all()
        result["by_model"] = [
            {"provider": r.provider, "provider_type": r.provider_type, "model": r.model, **_cost_figures(r)}
            for r in by_m
        ]
    return result


def tag_costs(
    days: int | None = None,
    *,
    window: Window | None = None,
    tag_key: str | None = None,
    providers: list[str] | None = None,
    models: list[str] | None = None,
    engine=None,
) -> pd.DataFrame:
    """Cost and savings by tag (``tag_key``, ``tag_value``), from the per-tag rollup."""
    window = _window(days, window, 30)
    engine = _engine(engine)
    t = db.tag_costs_daily
    with engine.connect() as conn:
        where = _filters(t, window, providers, models, conn)
        if tag_key:
            where = and_(where, t.c.tag_key == tag_key)
        rows = conn.execute(
            select(t.c.tag_key, t.c.tag_value, *_sums(t))
            .where(where)
            .group_by(t.c.tag_key, t.c.tag_value)
            .order_by(t.c.tag_key, t.c.tag_value)
        ).all()
    return pd.DataFrame(
        [{"tag_key": r.tag_key, "tag_value": r.tag_value, **_float_money(_cost_figures(r))} for r in rows],
        columns=[
            "tag_key",
            "tag_value",
            "total_requests",
            "total_cost_usd",
            "hypothetical_claude_cost_usd",
            "priced_hypothetical_cost_usd",
            "estimated_savings_usd",
            "savings_percentage",
            "unpriced_requests",
            "prompt_tokens",
            "completion_tokens",
        ],
    )


def _float_money(d: dict) -> dict:
    return {k: float(v) if isinstance(v, Decimal) else v for k, v in d.items()}


_TREND_KEYS = ("requests", "successful_requests", "failed_requests", "prompt_tokens", "completion_tokens")


def _trend_row(row) -> dict:
    out = {k: int(getattr(row, k) or 0) for k in _TREND_KEYS}
    out["cost_usd"] = _money(row.cost_usd)
    out["hypothetical_cost_usd"] = _money(row.reference_cost_usd)
    out["unpriced_requests"] = int(row.unpriced_requests or 0)
    return out


def trends(
    days: int | None = None,
    *,
    window: Window | None = None,
    providers: list[str] | None = None,
    models: list[str] | None = None,
    engine=None,
) -> dict:
    """``daily``: one row per UTC day of the window (zeros on quiet days); ``by_provider``: per
    provider and day with traffic."""
    window = _window(days, window, 30)
    engine = _engine(engine)
    t, p = db.costs_daily, db.providers
    with engine.connect() as conn:
        where = _filters(t, window, providers, models, conn)
        per_day = {
            _as_date(r.day): _trend_row(r)
            for r in conn.execute(select(t.c.day, *_sums(t)).where(where).group_by(t.c.day))
        }
        by_provider = conn.execute(
            select(t.c.day, p.c.name.label("provider"), *_sums(t))
            .select_from(t.join(p, p.c.id == t.c.provider_id))
            .where(where)
            .group_by(t.c.day, p.c.name)
            .order_by(t.c.day, p.c.name)
        ).all()
    empty = {k: 0 for k in _TREND_KEYS} | {"cost_usd": ZERO, "hypothetical_cost_usd": ZERO, "unpriced_requests": 0}
    daily = [{"date": d.isoformat(), **per_day.get(d, empty)} for d in window.dates()]
    return {
        "daily": daily,
        "by_provider": [
            {"date": _as_date(r.day).isoformat(), "provider": r.provider, **_trend_row(r)} for r in by_provider
        ],
    }


def _as_date(value) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


# -- DataFrames for pages and notebooks --------------------------------------------------------


def daily_frame(
    days: int | None = None, *, window: Window | None = None, providers=None, models=None, engine=None
) -> pd.DataFrame:
    """Per day, provider and model: every rollup measure (money as float), with ``date`` as datetime."""
    window = _window(days, window, 30)
    engine = _engine(engine)
    t, p = db.costs_daily, db.providers
    with engine.connect() as conn:
        where = _filters(t, window, providers, models, conn)
        rows = conn.execute(
            select(
                t.c.day, p.c.name.label("provider"), p.c.provider_type, t.c.model, *[t.c[m] for m in db.DAILY_MEASURES]
            )
            .select_from(t.join(p, p.c.id == t.c.provider_id))
            .where(where)
            .order_by(t.c.day, p.c.name, t.c.model)
        ).all()
    frame = pd.DataFrame(rows, columns=["date", "provider", "provider_type", "model", *db.DAILY_MEASURES])
    frame["date"] = pd.to_datetime(frame["date"].map(_as_date) if len(frame) else frame["date"])
    for m in ("cost_usd", "reference_cost_usd", "priced_reference_cost_usd"):
        frame[m] = frame[m].astype(float)
    return frame


def usage_frame(
    days: int | None = None,
    *,
    window: Window | None = None,
    by: str = "model",
    providers=None,
    models=None,
    engine=None,
) -> pd.DataFrame:
    """``metrics()``'s ``by_provider`` (``by='provider'``) or ``by_model`` rows as a DataFrame."""
    result = metrics(days, window=window, providers=providers, models=models, engine=engine)
    return pd.DataFrame(result["by_provider" if by == "provider" else "by_model"])


def cost_frame(
    days: int | None = None,
    *,
    window: Window | None = None,
    by: str = "model",
    providers=None,
    models=None,
    engine=None,
) -> pd.DataFrame:
    """``cost_summary()``'s ``by_provider`` or ``by_model`` rows as a DataFrame (money as float)."""
    result = cost_summary(days, window=window, providers=providers, models=models, engine=engine)
    return pd.DataFrame([_float_money(r) for r in result["by_provider" if by == "provider" else "by_model"]])


def latency_frame(
    days: int | None = None,
    *,
    window: Window | None = None,
    kind: str = "duration",
    providers=None,
    models=None,
    engine=None,
) -> pd.DataFrame:
    """The latency histogram: ``provider, model, bucket_ms, count`` (``kind`` duration or ttft)."""
    window = _window(days, window, 30)
    engine = _engine(engine)
    t, p = db.latency_daily, db.providers
    with engine.connect() as conn:
        rows = conn.execute(
            select(p.c.name.label("provider"), t.c.model, t.c.bucket, func.sum(t.c.count).label("count"))
            .select_from(t.join(p, p.c.id == t.c.provider_id))
            .where(_filters(t, window, providers, models, conn), t.c.kind == kind)
            .group_by(p.c.name, t.c.model, t.c.bucket)
            .order_by(p.c.name, t.c.model, t.c.bucket)
        ).all()
    return pd.DataFrame(
        [
            {
                "provider": r.provider,
                "model": r.model,
                "bucket_ms": latency.bucket_value(r.bucket),
                "count": int(r.count),
            }
            for r in rows
        ],
        columns=["provider", "model", "bucket_ms", "count"],
    )


def _log_where(*, start=None, end=None, providers=None, models=None, statuses=None, tag=None, error_contains=None):
    r, p = db.requests, db.providers
    conds = []
    if start is not None:
        conds.append(r.c.timestamp >= _naive(start))
    if end is not None:
        conds.append(r.c.timestamp < _naive(end))
    if providers:
        conds.append(r.c.provider_id.in_(select(p.c.id).where(p.c.name.in_(providers))))
    if models:
        conds.append(r.c.model.in_(models))
    if statuses:
        conds.append(r.c.status.in_(statuses))
    if tag:
        key, value = tag
        needle = json.dumps({key: value}, ensure_ascii=False)[1:-1]  # '"key": "value"'
        conds.append(r.c.tags.contains(needle, autoescape=True))
    if error_contains:
        conds.append(func.lower(r.c.error_message).contains(error_contains.lower(), autoescape=True))
    return and_(literal(True), *conds) if conds else literal(True)


def _naive(value) -> datetime:
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


#: the request log's columns: the raw row with the provider's name in place of its id
LOG_COLUMNS = [
    "id",
    "timestamp",
    "provider",
    *(c.name for c in db.requests.columns if c.name not in ("id", "timestamp", "provider_id")),
]


def request_log(
    *,
    limit: int = 100,
    offset: int = 0,
    start=None,
    end=None,
    providers=None,
    models=None,
    statuses=None,
    tag: tuple[str, str] | None = None,
    error_contains: str | None = None,
    engine=None,
) -> pd.DataFrame:
    """The latest calls, newest first, filtered and paged in SQL. ``tags`` is a dict per row."""
    engine = _engine(engine)
    r, p = db.requests, db.providers
    where = _log_where(
        start=start,
        end=end,
        providers=providers,
        models=models,
        statuses=statuses,
        tag=tag,
        error_contains=error_contains,
    )
    cols = [c for c in r.c if c.name != "provider_id"]
    with engine.connect() as conn:
        rows = conn.execute(
            select(*cols, p.c.name.label("provider"))
            .select_from(r.join(p, p.c.id == r.c.provider_id))
            .where(where)
            .order_by(r.c.timestamp.desc(), r.c.id.desc())
            .limit(limit)
            .offset(offset)
        ).all()
    frame = (
        pd.DataFrame([row._mapping for row in rows], columns=LOG_COLUMNS) if rows else pd.DataFrame(columns=LOG_COLUMNS)
    )
    frame["tags"] = pd.Series(
        [json.loads(s) if isinstance(s, str) and s else {} for s in frame["tags"]], index=frame.index, dtype=object
    )
    for col in ("cost_usd", "reference_cost_usd", "duration_ms", "ttft_ms"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)  # NaN = unpriced / unknown
    return frame


def request_count(
    *, start=None, end=None, providers=None, models=None, statuses=None, tag=None, error_contains=None, engine=None
) -> int:
    """How many calls match the request log's filters (for paging)."""
    engine = _engine(engine)
    where = _log_where(
        start=start,
        end=end,
        providers=providers,
        models=models,
        statuses=statuses,
        tag=tag,
        error_contains=error_contains,
    )
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(db.requests).where(where)).scalar_one())


def circuit_events(*, since: datetime | None = None, providers=None, engine=None) -> pd.DataFrame:
    """Circuit transitions (``provider, at, from_state, to_state, reason``), oldest first."""
    engine = _engine(engine)
    e, p = db.circuit_events, db.providers
    q = select(p.c.name.label("provider"), e.c.at, e.c.from_state, e.c.to_state, e.c.reason).select_from(
        e.join(p, p.c.id == e.c.provider_id)
    )
    if since is not None:
        q = q.where(e.c.at >= _naive(since))
    if providers:
        q = q.where(p.c.name.in_(providers))
    with engine.connect() as conn:
        rows = conn.execute(q.order_by(e.c.at, e.c.id)).all()
    return pd.DataFrame(rows, columns=["provider", "at", "from_state", "to_state", "reason"])


def dropped_records(engine=None) -> int:
    """Records any process had to drop (reported in ``llm_recorder_faults``)."""
    engine = _engine(engine)
    f = db.recorder_faults
    with engine.connect() as conn:
        return int(
            conn.execute(select(func.coalesce(func.sum(f.c.count), 0)).where(f.c.kind == "dropped")).scalar_one()
        )


def recent_success_rate(minutes: int = 60, engine=None) -> tuple[int, float | None]:
    """(calls, success rate in percent) over the last ``minutes`` minutes of raw rows."""
    engine = _engine(engine)
    r = db.requests
    since = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=minutes)
    with engine.connect() as conn:
        total, ok = conn.execute(
            select(func.count(), func.coalesce(func.sum(case((r.c.status == "success", 1), else_=0)), 0)).where(
                r.c.timestamp >= since
            )
        ).one()
    return int(total), (round(int(ok) / int(total) * 100, 2) if total else None)


# -- for the dashboard: cache keys, filter choices, availability, latency and daily series ---------


def data_version(engine=None) -> tuple:
    """A cheap fingerprint that changes whenever anything a page shows changes: new calls, repriced
    or rebuilt rollups, circuit transitions, provider settings, recorder faults. Pages key their
    caches on it, so a cached figure is never older than the data behind it."""
    engine = _engine(engine)
    r, t, e, h, p, f = (
        db.requests,
        db.costs_daily,
        db.circuit_events,
        db.provider_health,
        db.providers,
        db.recorder_faults,
    )
    with engine.connect() as conn:
        last_request = conn.execute(select(func.max(r.c.id))).scalar()
        rollup = conn.execute(
            select(func.count(), func.sum(t.c.requests), func.sum(t.c.cost_usd), func.sum(t.c.reference_cost_usd))
        ).one()
        last_event = conn.execute(select(func.max(e.c.id))).scalar()
        health_rows = conn.execute(
            select(h.c.provider_id, h.c.circuit_state, h.c.failure_count, h.c.updated_at).order_by(h.c.provider_id)
        ).all()
        provider_rows = conn.execute(
            select(p.c.id, p.c.name, p.c.display_name, p.c.provider_type, p.c.priority, p.c.enabled).order_by(p.c.id)
        ).all()
        last_fault = conn.execute(select(func.max(f.c.id))).scalar()
    return (
        last_request,
        tuple(str(v) for v in rollup),
        last_event,
        last_fault,
        tuple(tuple(str(v) for v in row) for row in health_rows),
        tuple(tuple(row) for row in provider_rows),
    )


def has_calls(engine=None) -> bool:
    """Whether any call has been recorded at all (the dashboard's first-run check)."""
    engine = _engine(engine)
    with engine.connect() as conn:
        return conn.execute(select(db.requests.c.id).limit(1)).first() is not None


def model_names(days: int | None = None, *, window: Window | None = None, providers=None, engine=None) -> pd.DataFrame:
    """Every (``provider``, ``model``) with traffic in the window, from the rollup (filter choices)."""
    window = _window(days, window, 30)
    engine = _engine(engine)
    t, p = db.costs_daily, db.providers
    with engine.connect() as conn:
        rows = conn.execute(
            select(p.c.name.label("provider"), t.c.model)
            .distinct()
            .select_from(t.join(p, p.c.id == t.c.provider_id))
            .where(_filters(t, window, providers, None, conn))
            .order_by(p.c.name, t.c.model)
        ).all()
    return pd.DataFrame(rows, columns=["provider", "model"])


def tag_values(
    days: int | None = None, *, window: Window | None = None, tag_key: str | None = None, engine=None
) -> pd.DataFrame:
    """Every (``tag_key``, ``tag_value``) seen in the window, with its number of calls."""
    window = _window(days, window, 30)
    engine = _engine(engine)
    t = db.tag_costs_daily
    with engine.connect() as conn:
        where = _filters(t, window, None, None, conn)
        if tag_key:
            where = and_(where, t.c.tag_key == tag_key)
        rows = conn.execute(
            select(t.c.tag_key, t.c.tag_value, func.sum(t.c.requests).label("requests"))
            .where(where)
            .group_by(t.c.tag_key, t.c.tag_value)
            .order_by(t.c.tag_key, t.c.tag_value)
        ).all()
    return pd.DataFrame([tuple(r) for r in rows], columns=["tag_key", "tag_value", "requests"])


_PERCENTILE_GROUPS = {"total": (), "provider": ("provider",), "model": ("provider", "model"), "day": ("day",)}


def latency_percentiles(
    days: int | None = None,
    *,
    window: Window | None = None,
    by: str = "provider",
    kind: str = "duration",
    providers=None,
    models=None,
    engine=None,
) -> pd.DataFrame:
    """p50/p95/p99 in milliseconds from the latency histogram (within about 1% of the exact value).

    Args:
        by: ``total``, ``provider``, ``model`` (with its provider) or ``day``.
        kind: ``duration`` (whole call) or ``ttft`` (time to first token, streamed calls only).

    Returns:
        One row per group: the group columns, ``calls`` (with a measured latency), ``p50_ms``,
        ``p95_ms``, ``p99_ms``; ``day`` comes back as a datetime.
    """
    if by not in _PERCENTILE_GROUPS:
        raise ValueError(f"by must be one of {', '.join(_PERCENTILE_GROUPS)}; got {by!r}")
    if kind not in ("duration", "ttft"):
        raise ValueError(f"kind must be 'duration' or 'ttft', got {kind!r}")
    window = _window(days, window, 30)
    engine = _engine(engine)
    group = _PERCENTILE_GROUPS[by]
    t, p = db.latency_daily, db.providers
    cols = [p.c.name.label("provider") if c == "provider" else t.c[c] for c in group]
    q = (
        select(*cols, t.c.bucket, func.sum(t.c.count).label("n"))
        .select_from(t.join(p, p.c.id == t.c.provider_id))
        .group_by(*cols, t.c.bucket)
    )
    with engine.connect() as conn:
        rows = conn.execute(q.where(_filters(t, window, providers, models, conn), t.c.kind == kind)).all()
    frame = _percentile_frame([(tuple(row[: len(group)]), row.bucket, int(row.n)) for row in rows], group)
    if by == "day":
        frame["day"] = pd.to_datetime(frame["day"].map(_as_date) if len(frame) else frame["day"])
    return frame


def latency_breakdown(
    days: int | None = None,
    *,
    window: Window | None = None,
    kind: str = "duration",
    providers=None,
    models=None,
    engine=None,
) -> dict[str, pd.DataFrame]:
    """``latency_percentiles`` by ``total``, ``provider`` and ``model`` at once, from one read of the
    histogram (a page that shows all three reads it once instead of three times)."""
    if kind not in ("duration", "ttft"):
        raise ValueError(f"kind must be 'duration' or 'ttft', got {kind!r}")
    window = _window(days, window, 30)
    engine = _engine(engine)
    with engine.connect() as conn:
        levels = _histogram_levels(conn, window, providers, models, kind)
    groups = {"total": (), "provider": ("provider",), "model": ("provider", "model")}
    return {
        level: _percentile_frame(
            [(key, b, n) for key, counts in levels[level].items() for b, n in counts.items()], group
        )
        for level, group in groups.items()
    }


def _percentile_frame(rows: list[tuple[tuple, int, int]], group: tuple[str, ...]) -> pd.DataFrame:
    """(group key, bucket, count) rows -> one row per group with calls and p50/p95/p99 in ms."""
    grouped: dict[tuple, dict[int, int]] = {}
    for key, bucket, n in rows:
        counts = grouped.setdefault(key, {})
        counts[bucket] = counts.get(bucket, 0) + n
    out = []
    for key, counts in sorted(grouped.items(), key=lambda kv: tuple(str(k) for k in kv[0])):
        pct = latency.percentiles(counts.items(), PERCENTILES)
        out.append((*key, sum(counts.values()), pct[50.0], pct[95.0], pct[99.0]))
    return pd.DataFrame(out, columns=[*group, "calls", "p50_ms", "p95_ms", "p99_ms"])


_SERIES = (
    "requests",
    "successful_requests",
    "failed_requests",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "reference_cost_usd",
    "priced_reference_cost_usd",
    "unpriced_requests",
)


def daily_series(
    days: int | None = None,
    *,
    window: Window | None = None,
    by_provider: bool = False,
    moving_average: int = 7,
    providers=None,
    models=None,
    engine=None,
) -> pd.DataFrame:
    """Daily totals for charts: one row per UTC day of the window (per provider with ``by_provider``),
    quiet days as zeros.

    Columns: ``date`` (datetime), [``provider``], ``requests``, ``successful_requests``,
    ``failed_requests``, ``prompt_tokens``, ``completion_tokens``, ``tokens``, ``cost_usd``,
    ``reference_cost_usd``, ``savings_usd`` (priced calls), ``unpriced_requests``, and for
    ``requests``, ``tokens`` and ``cost_usd`` a trailing ``moving_average``-day mean (``*_ma``)
    that reaches back before the window, so the first days of the window are averaged correctly
    (days before the first recorded call are left out of it). Money as float.
    """
    if not isinstance(moving_average, int) or moving_average < 1:
        raise ValueError(f"moving_average must be a whole number >= 1, got {moving_average!r}")
    window = _window(days, window, 30)
    engine = _engine(engine)
    wide = Window(window.start - timedelta(days=moving_average - 1), window.end)
    t, p = db.costs_daily, db.providers
    key = [p.c.name.label("provider")] if by_provider else []
    sums = [func.coalesce(func.sum(t.c[m]), 0).label(m) for m in _SERIES]
    with engine.connect() as conn:
        rows = conn.execute(
            select(t.c.day, *key, *sums)
            .select_from(t.join(p, p.c.id == t.c.provider_id))
            .where(_filters(t, wide, providers, models, conn))
            .group_by(t.c.day, *key)
        ).all()
    columns = ["date", *(["provider"] if by_provider else []), *_SERIES]
    frame = pd.DataFrame([(_as_date(r.day), *r[1:]) for r in rows], columns=columns)
    for m in _SERIES:
        frame[m] = frame[m].astype(float) if m.endswith("_usd") else frame[m].astype("int64")
    days_index = pd.Index(wide.dates(), name="date")
    if by_provider:
        names = sorted(frame["provider"].unique())
        full = pd.MultiIndex.from_product([days_index, names], names=["date", "provider"])
        frame = frame.set_index(["date", "provider"]).reindex(full, fill_value=0)
    else:
        frame = frame.set_index("date").reindex(days_index, fill_value=0)
    frame = frame.reset_index()
    frame["tokens"] = frame["prompt_tokens"] + frame["completion_tokens"]
    frame["savings_usd"] = frame["priced_reference_cost_usd"] - frame["cost_usd"]
    # Days before the first recorded call are "no data", not zeros: the average skips them.
    active = frame.loc[frame["requests"] > 0, "date"]
    before_data = frame["date"] < (active.min() if len(active) else window.end + timedelta(days=1))
    for m in ("requests", "tokens", "cost_usd"):
        values = frame[m].astype(float).mask(before_data)
        if by_provider:
            rolled = values.groupby(frame["provider"], sort=False).rolling(moving_average, min_periods=1).mean()
            frame[f"{m}_ma"] = rolled.reset_index(level=0, drop=True)
        else:
            frame[f"{m}_ma"] = values.rolling(moving_average, min_periods=1).mean()
    frame = frame[frame["date"] >= window.start].drop(columns="priced_reference_cost_usd")
    frame["date"] = pd.to_datetime(frame["date"])
    return frame.reset_index(drop=True)


def availability(
    days: int | None = None, *, window: Window | None = None, providers=None, now: datetime | None = None, engine=None
) -> pd.DataFrame:
    """How much of each UTC day each provider's circuit was not open, from the circuit history.

    A provider is unavailable while its circuit is ``open``, at most for the configured cooldown
    (after it the circuit is ``half_open`` and lets a trial call through, whether or not that
    transition is stored yet). Today counts up to ``now``.

    Returns:
        ``provider, date, available_pct, open_minutes, transitions`` for every provider and day.
    """
    window = _window(days, window, 30)
    engine = _engine(engine)
    now = _naive(now or datetime.now(UTC))
    start = datetime.combine(window.start, datetime.min.time())
    end = min(datetime.combine(window.end + timedelta(days=1), datetime.min.time()), now)
    e, p = db.circuit_events, db.providers
    with engine.connect() as conn:
        q = select(p.c.id, p.c.name).order_by(p.c.priority, p.c.id)
        if providers:
            q = q.where(p.c.name.in_(providers))
        names = conn.execute(q).all()
        before = {  # each provider's last transition before the window
            r.provider_id: (r.to_state, r.at)
            for r in conn.execute(
                select(e.c.provider_id, e.c.to_state, e.c.at, e.c.id).where(e.c.at < start).order_by(e.c.at, e.c.id)
            )
        }
        events = conn.execute(
            select(e.c.provider_id, e.c.at, e.c.to_state).where(e.c.at >= start, e.c.at < end).order_by(e.c.at, e.c.id)
        ).all()
    by_provider: dict[int, list] = {}
    for ev in events:
        by_provider.setdefault(ev.provider_id, []).append((ev.at, ev.to_state))
    cooldown = timedelta(seconds=settings().circuit_cooldown_seconds)
    out = []
    for pid, name in names:
        open_seconds: dict[date, float] = {}
        moves: dict[date, int] = {}
        state, since = before.get(pid, ("closed", start))
        for at, to_state in [*by_provider.get(pid, []), (end, None)]:
            if state == "open":
                _spread(open_seconds, max(since, start), min(at, since + cooldown))
            if to_state is not None:
                moves[at.date()] = moves.get(at.date(), 0) + 1
                state, since = to_state, at
        for d in window.dates():
            day_start = datetime.combine(d, datetime.min.time())
            span = (min(day_start + timedelta(days=1), end) - day_start).total_seconds()
            if span <= 0:
                continue
            closed = open_seconds.get(d, 0.0)
            out.append((name, d, round(100 * (1 - closed / span), 3), round(closed / 60, 1), moves.get(d, 0)))
    frame = pd.DataFrame(out, columns=["provider", "date", "available_pct", "open_minutes", "transitions"])
    frame["date"] = pd.to_datetime(frame["date"])
    return frame


def _spread(acc: dict, lo: datetime, hi: datetime) -> None:
    """Add the seconds between lo and hi to each UTC day they cover."""
    while lo < hi:
        next_day = datetime.combine(lo.date() + timedelta(days=1), datetime.min.time())
        cut = min(hi, next_day)
        acc[lo.date()] = acc.get(lo.date(), 0.0) + (cut - lo).total_seconds()
        lo = cut
