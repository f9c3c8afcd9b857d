"""Rows that keep their place while a person edits them (a priority change must not move the row
under the next click)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import streamlit as st


def stable(key: str, items: Iterable, id_of: Callable) -> list:
    """``items`` in the order they were first shown in this session under ``key``.

    New items go at the end, items that are gone are dropped; ``reset(key)`` takes the order
    ``items`` come in again (e.g. sorted by priority).
    """
    items = list(items)
    order = st.session_state.get(key)
    ids = [id_of(i) for i in items]
    if order is None:
        order = ids
    else:
        order = [i for i in order if i in ids] + [i for i in ids if i not in order]
    st.session_state[key] = order
    by_id = dict(zip(ids, items, strict=True))
    return [by_id[i] for i in order]


def reset(key: str) -> None:
    """Forget the kept order (a button callback)."""
    st.session_state.pop(key, None)
