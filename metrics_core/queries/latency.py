"""Latency figures from the log histogram in ``llm_latency_daily``: p50/p95/p99 within about 1% of
the exact value (``storage.latency_buckets``), per total, provider, model or day."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import func, select

from .. import storage
from ..storage import latency_buckets
from .common import Window, as_date, read_engine, rollup_filter, window_of

PERCENTILES = (50.0, 95.0, 99.0)


def histogram_levels(conn, window, providers, models, kind="duration") -> dict[str, dict[tuple, dict[int, int]]]:
    """The latency histogram summed per total, provider and (provider, model), from one read:
    ``{"total": {(): {bucket: n}}, "provider": {(name,): ...}, "model": {(name, model): ...}}``."""
    t, p = storage.latency_daily, storage.providers
    names = dict(conn.execute(select(p.c.id, p.c.name)).all())
    q = (
        select(t.c.provider_id, t.c.model, t.c.bucket, func.sum(t.c.count).label("n"))
        .where(rollup_filter(t, window, providers, models, conn), t.c.kind == kind)
        .group_by(t.c.provider_id, t.c.model, t.c.bucket)
    )
    levels: dict[str, dict[tuple, dict[int, int]]] = {"total": {}, "provider": {}, "model": {}}
    for provider_id, model, bucket, n in conn.execute(q):
        name = names[provider_id]
        for level, key in (("total", ()), ("provider", (name,)), ("model", (name, model))):
            counts = levels[level].setdefault(key, {})
            counts[bucket] = counts.get(bucket, 0) + int(n)
    return levels


def level_percentiles(levels: dict, level: str) -> dict[tuple, dict[float, float | None]]:
    return {k: latency_buckets.percentiles(v.items(), PERCENTILES) for k, v in levels[level].items()}


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
    window = window_of(days, window, 30)
    engine = read_engine(engine)
    t, p = storage.latency_daily, storage.providers
    with engine.connect() as conn:
        rows = conn.execute(
            select(p.c.name.label("provider"), t.c.model, t.c.bucket, func.sum(t.c.count).label("count"))
            .select_from(t.join(p, p.c.id == t.c.provider_id))
            .where(rollup_filter(t, window, providers, models, conn), t.c.kind == kind)
            .group_by(p.c.name, t.c.model, t.c.bucket)
            .order_by(p.c.name, t.c.model, t.c.bucket)
        ).all()
    return pd.DataFrame(
        [
            {
                "provider": r.provider,
                "model": r.model,
                "bucket_ms": latency_buckets.bucket_value(r.bucket),
                "count": int(r.count),
            }
            for r in rows
        ],
        columns=["provider", "model", "bucket_ms", "count"],
    )


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
    window = window_of(days, window, 30)
    engine = read_engine(engine)
    group = _PERCENTILE_GROUPS[by]
    t, p = storage.latency_daily, storage.providers
    cols = [p.c.name.label("provider") if c == "provider" else t.c[c] for c in group]
    q = (
        select(*cols, t.c.bucket, func.sum(t.c.count).label("n"))
        .select_from(t.join(p, p.c.id == t.c.provider_id))
        .group_by(*cols, t.c.bucket)
    )
    with engine.connect() as conn:
        rows = conn.execute(q.where(rollup_filter(t, window, providers, models, conn), t.c.kind == kind)).all()
    frame = percentile_frame([(tuple(row[: len(group)]), row.bucket, int(row.n)) for row in rows], group)
    if by == "day":
        frame["day"] = pd.to_datetime(frame["day"].map(as_date) if len(frame) else frame["day"])
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
    window = window_of(days, window, 30)
    engine = read_engine(engine)
    with engine.connect() as conn:
        levels = histogram_levels(conn, window, providers, models, kind)
    groups = {"total": (), "provider": ("provider",), "model": ("provider", "model")}
    return {
        level: percentile_frame(
            [(key, b, n) for key, counts in levels[level].items() for b, n in counts.items()], group
        )
        for level, group in groups.items()
    }


def percentile_frame(rows: list[tuple[tuple, int, int]], group: tuple[str, ...]) -> pd.DataFrame:
    """(group key, bucket, count) rows -> one row per group with calls and p50/p95/p99 in ms."""
    grouped: dict[tuple, dict[int, int]] = {}
    for key, bucket, n in rows:
        counts = grouped.setdefault(key, {})
        counts[bucket] = counts.get(bucket, 0) + n
    out = []
    for key, counts in sorted(grouped.items(), key=lambda kv: tuple(str(k) for k in kv[0])):
        pct = latency_buckets.percentiles(counts.items(), PERCENTILES)
        out.append((*key, sum(counts.values()), pct[50.0], pct[95.0], pct[99.0]))
    return pd.DataFrame(out, columns=[*group, "calls", "p50_ms", "p95_ms", "p99_ms"])
