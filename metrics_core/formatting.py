"""Number formatting for the dashboard, reports, alerts and the CLI: one place, one style.

Money keeps enough places for small amounts to be seen (``$0.0042``), cents otherwise; a cost that
cannot be known reads ``missing`` (a dash on the dashboard, ``unpriced`` in reports and CLI tables).
"""

from __future__ import annotations

import math
import re
from decimal import Decimal

from .money import CENT

DASH = "—"


def is_missing(value) -> bool:
    """None, NaN, NaT and pandas' NA are all "no value"."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    try:
        import pandas as pd

        return bool(pd.isna(value)) if not isinstance(value, (str, bytes, list, tuple, dict)) else False
    except (TypeError, ValueError, ImportError):
        return False


def money(value, *, places: int | None = None, missing: str = DASH) -> str:
    """``$1,234.56``; under a dollar four places (``$0.0105``); zero ``$0.00``; None -> ``missing``."""
    if is_missing(value):
        return missing
    value = value if isinstance(value, Decimal) else Decimal(str(float(value)))
    if places is None:
        places = 2 if abs(value) >= 1 or value == 0 else 4
    text = f"${abs(value).quantize(CENT if places == 2 else Decimal(1).scaleb(-places)):,.{places}f}"
    return f"-{text}" if value < 0 else text


def count(value) -> str:
    """``12,345``; None -> ``—``."""
    return DASH if is_missing(value) else f"{int(value):,}"


def compact(value) -> str:
    """``1.2M``, ``35.4k``, ``950``: for big token counts."""
    if is_missing(value):
        return DASH
    value = float(value)
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:,.1f}{suffix}"
    return f"{value:,.0f}"


def pct(value, places: int = 1) -> str:
    """``97.3%``; None -> ``—``."""
    return DASH if is_missing(value) else f"{float(value):.{places}f}%"


def ms(value) -> str:
    """``850 ms`` under ten seconds, else ``12.3 s``; None -> ``—``."""
    if is_missing(value):
        return DASH
    value = float(value)
    return f"{value:,.0f} ms" if value < 10_000 else f"{value / 1000:,.1f} s"


def delta(current, previous, *, kind: str = "count") -> str | None:
    """The change from ``previous`` to ``current`` as a signed string for ``st.metric``'s delta;
    None when there is nothing to compare with.

    ``kind``: ``count`` (``+1,204 (+12.0%)``), ``money`` (``+$3.20``), ``points`` (percentage points,
    ``-1.5 pp``), ``ms`` (``+35 ms``).
    """
    if is_missing(current) or is_missing(previous):
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


# characters Markdown or Streamlit act on inside a line: emphasis, code, links and images, raw HTML,
# entities, tables, strikethrough, ``$`` maths, ``:red[...]``/``:icon:`` directives, and the ``:``
# and ``@`` of autolinked URLs and e-mail addresses; ``#``, ``-``, ``+``, ``>``, ``=`` and ``1.``
# only matter at the start of a line
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>!|~$:&@])")
_MD_LINE_START = re.compile(r"^(\s*)([#+\-=>]|\d+[.)])")
_WWW = re.compile(r"(?i)\bwww\.")


def md(value) -> str:
    """``value`` as literal text inside Markdown (``st.markdown``, captions, labels, toasts): every
    character Markdown or Streamlit's extensions would act on is backslash-escaped and line breaks
    become spaces, so a name or an error can never turn into a link, an image, a heading or HTML."""
    text = " ".join(str(value).splitlines())
    text = _WWW.sub(lambda m: m.group(0)[:-1] + "\\.", _MD_SPECIAL.sub(r"\\\1", text))
    return _MD_LINE_START.sub(_escape_line_start, text)


def _escape_line_start(match: re.Match) -> str:
    lead, marker = match.group(1), match.group(2)
    if marker[0].isdigit():  # "1." -> "1\.": a backslash before a digit would show
        return lead + marker[:-1] + "\\" + marker[-1]
    return lead + "\\" + marker


def md_code(value) -> str:
    """``value`` as an inline code span, whatever backticks it holds (a longer fence than any run of
    backticks in it); code spans show their content literally."""
    text = " ".join(str(value).splitlines())
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or longest else ""
    return f"{fence}{pad}{text}{pad}{fence}"


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def csv_cell(value):
    """``value`` safe to open in a spreadsheet (OWASP CSV injection): text starting with ``=``, ``+``,
    ``-``, ``@``, a tab or a carriage return gets a leading ``'`` so it is never run as a formula;
    numbers (``-1.5`` too) and anything that is not text stay as they are."""
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value
