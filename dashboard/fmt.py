"""Number formatting for KPIs and tables: one place, so every page writes money the same way."""

from __future__ import annotations

import math
from decimal import Decimal


def _nan(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def money(value, *, places: int | None = None) -> str:
    """``$1,234.56``; small amounts keep enough places to be seen (``$0.0042``); None -> ``—``."""
    if _nan(value):
        return "—"
    value = float(value) if isinstance(value, Decimal) else value
    if places is None:
        places = 2 if abs(value) >= 1 or value == 0 else 4
    return f"-${abs(value):,.{places}f}" if value < 0 else f"${value:,.{places}f}"


def count(value) -> str:
    """``12,345``; None -> ``—``."""
    return "—" if _nan(value) else f"{int(value):,}"


def compact(value) -> str:
    """``1.2M``, ``35.4k``, ``950``: for big token counts."""
    if _nan(value):
        return "—"
    value = float(value)
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:,.1f}{suffix}"
    return f"{value:,.0f}"


def pct(value, places: int = 1) -> str:
    """``97.3%``; None -> ``—``."""
    return "—" if _nan(value) else f"{float(value):.{places}f}%"


def ms(value) -> str:
    """``850 ms`` under ten seconds, else ``12.3 s``; None -> ``—``."""
    if _nan(value):
        return "—"
    value = float(value)
    return f"{value:,.0f} ms" if value < 10_000 else f"{value / 1000:,.1f} s"


def delta(current, previous, *, kind: str = "count") -> str | None:
    """The change from ``previous`` to ``current`` as a signed string for ``st.metric``'s delta;
    None when there is nothing to compare with.

    ``kind``: ``count`` (``+1,204 (+12.0%)``), ``money`` (``+$3.20``), ``points`` (percentage points,
    ``-1.5 pp``), ``ms`` (``+35 ms``).
    """
    if _nan(current) or _nan(previous):
        return None
    current, previous = float(current), float(previous)
    diff = current - previous
    if kind == "points":
        return f"{diff:+.1f} pp"
    if kind == "money":
        sign = "-" if diff < 0 else "+"
        text = f"{sign}{money(abs(diff))}"
    elif kind == "ms":
        text = f"{diff:+,.0f} ms"
    else:
        text = f"{diff:+,.0f}"
    if previous:
        text += f" ({diff / abs(previous) * 100:+.1f}%)"
    return text
