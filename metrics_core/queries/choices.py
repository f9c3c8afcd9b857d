"""Filter choices: the models and tag values with traffic in a window (from the rollups)."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import and_, func, select

from .. import storage
from .common import Window, read_engine, rollup_filter, window_of


def model_names(days: int | None = None, *, window: Window | None = None, providers=None, engine=None) -> pd.DataFrame:
    """Every (``provider``, ``model``) with traffic in the window, from the rollup (filter choices)."""
    window = window_of(days, window, 30)
    engine = read_engine(engine)
    t, p = storage.costs_daily, storage.providers
    with engine.connect() as conn:
        rows = conn.execute(
            select(p.c.name.label("provider"), t.c.model)
            .distinct()
            .select_from(t.join(p, p.c.id == t.c.provider_id))
            .where(rollup_filter(t, window, providers, None, conn))
            .order_by(p.c.name, t.c.model)
        ).all()
    return pd.DataFrame(rows, columns=["provider", "model"])


def tag_values(
    days: int | None = None, *, window: Window | None = None, tag_key: str | None = None, engine=None
) -> pd.DataFrame:
    """Every (``tag_key``, ``tag_value``) seen in the window, with its number of calls."""
    window = window_of(days, window, 30)
    engine = read_engine(engine)
    t = storage.tag_costs_daily
    with engine.connect() as conn:
        where = rollup_filter(t, window, None, None, conn)
        if tag_key:
            where = and_(where, t.c.tag_key == tag_key)
        rows = conn.execute(
            select(t.c.tag_key, t.c.tag_value, func.sum(t.c.requests).label("requests"))
            .where(where)
            .group_by(t.c.tag_key, t.c.tag_value)
            .order_by(t.c.tag_key, t.c.tag_value)
        ).all()
    return pd.DataFrame([tuple(r) for r in rows], columns=["tag_key", "tag_value", "requests"])
