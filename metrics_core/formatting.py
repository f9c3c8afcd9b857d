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
# one color per provider on every chart (dashboard and HTML report): by provider id, in this order
PROVIDER_PALETTE = ("#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#eeca3b", "#b279a2", "#ff9da6", "#9d755d")
MAX_PLACES = 8  # money: never more decimal places than this (JSON and CLI too)


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
    """``$1,234.56``; under a dollar enough places for two significant digits, at least two and
    trailing zeros dropped (``$0.25``, ``$0.0042``, ``$0.0105``, ``$0.000012``); zero ``$0.00``;
    None -> ``missing``. Never more than 8 places."""
    if is_missing(value):
        return missing
    value = value if isinstance(value, Decimal) else Decimal(str(float(value)))
    trim = places is None
    if places is None:
        if abs(value) >= 1 or value == 0:
            places = 2
        else:
            places = min(MAX_PLACES, max(4, -abs(value).adjusted() + 1))
    text = f"{abs(value).quantize(CENT if places == 2 else Decimal(1).scaleb(-places)):,.{places}f}"
    if trim and places > 2:
        whole, _, fraction = text.partition(".")
        text = f"{whole}.{fraction.rstrip('0').ljust(2, '0')}"
    return f"-${text}" if value < 0 and text.strip("0.,") else f"${text}"


def money_column(values) -> list[str]:
    """Money for one table column, all with the same places so the points line up: cents, or four
    places (more if needed) when a value is below a cent; missing values read ``unpriced``."""
    amounts = [None if is_missing(v) else Decimal(str(v)) for v in values]
    small = [abs(a) for a in amounts if a is not None and a != 0 and abs(a) < CENT]
    places = 2 if not small else min(MAX_PLACES, max(4, -min(small).adjusted() + 1))
    return [money(a, places=places, missing="unpriced") for a in amounts]


def plural(n, word: str, many: str | None = None) -> str:
    """``1 call``, ``2 calls``, ``1,204 calls`` (``many`` for irregular plurals)."""
    return f"{count(n)} {word if n == 1 else (many or word + 's')}"


def count(value) -> str:
    """``12,345``; None -> ``—``."""
    return DASH if is_missing(value) else f"{int(value):,}"


def compact(value) -> str:
    """``3.0M``, ``5.8M``, ``413k``, ``1.2k``, ``950``: for big token counts (one decimal under ten
    of a unit, none for thousands above that)."""
    if is_missing(value):
        return DASH
    value = float(value)
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if round(abs(value) / size, 1) >= 1:
            scaled = value / size
            return f"{scaled:,.0f}{suffix}" if suffix == "k" and abs(scaled) >= 10 else f"{scaled:,.1f}{suffix}"
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
    None when there is nothing to compare with. A change that rounds to zero has no sign
    (``0 ms (0.0%)``), so it reads neutral, not up or down (see ``is_change``).

    ``kind``: ``count`` (``+1,204 (+12.0%)``), ``money`` (``+$3.20``), ``points`` (percentage points,
    ``-1.5 pp``), ``ms`` (``+35 ms``).
    """
    if is_missing(current) or is_missing(previous):
        return None
    current, previous = float(current), float(previous)
    diff = current - previous
    share = diff / abs(previous) * 100 if previous else None

    def signed(text: str, zero: bool) -> str:
        return text.lstrip("+-") if zero else (text if text[0] in "+-" else f"+{text}")

    if kind == "points":
        return signed(f"{diff:+.1f} pp", round(diff, 1) == 0)
    if kind == "money":
        shown = money(abs(diff))
        zero = shown.strip("$0.,") == ""
        text = shown if zero else f"{'-' if diff < 0 else '+'}{shown}"
    elif kind == "ms":
        zero = round(diff) == 0
        text = signed(f"{diff:+,.0f} ms", zero)
    else:
        zero = round(diff) == 0
        text = signed(f"{diff:+,.0f}", zero)
    if share is not None:
        zero_share = round(share, 1) == 0
        text += f" ({signed(f'{share:+.1f}%', zero_share)})"
        zero = zero and zero_share
    return text


def is_change(delta_text: str | None) -> bool:
    """Whether a ``delta()`` string is a change up or down (signed), not zero or nothing."""
    return bool(delta_text) and delta_text[0] in "+-"


def provider_colors(names_by_id) -> list[str]:
    """The chart colors of providers given in id order (the same provider, the same color everywhere)."""
    return [PROVIDER_PALETTE[i % len(PROVIDER_PALETTE)] for i in range(len(list(names_by_id)))]


def money_axis_format(largest) -> str:
    """A d3 format for a money axis whose largest value is ``largest``: cents from a dollar up,
    enough places below (``$,.3f`` for values up to $0.05), so ticks never all read ``$0.00``."""
    largest = 0.0 if is_missing(largest) else abs(float(largest))
    if largest >= 1 or largest == 0:
        return "$,.2f"
    places = min(MAX_PLACES, max(2, -Decimal(str(largest)).adjusted() + 1))
    return f"$,.{places}f"


def axis_spec(fmt: str, values=()) -> dict:
    """``alt.Axis`` keyword arguments for a d3 format: counts (``,.0f``) get whole-number ticks only,
    money (``$...``) adapts its places to ``values``."""
    if fmt.startswith("$"):
        largest = max((abs(float(v)) for v in values if not is_missing(v)), default=0.0)
        return {"format": money_axis_format(largest)}
    if fmt in (",.0f", "d", ",d"):
        return {"format": ",.0f", "tickMinStep": 1}
    return {"format": fmt}


JSON_PLACES = 10  # money in JSON output: at most this many decimal places


def json_ready(value):
    """``value`` for ``json.dumps``: floats and Decimals rounded to ``JSON_PLACES`` places (Decimals
    become numbers), dates as ISO text; dicts, lists and tuples converted all the way down."""
    from datetime import date

    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, JSON_PLACES)
    if isinstance(value, date):
        return value.isoformat()
    return value


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
