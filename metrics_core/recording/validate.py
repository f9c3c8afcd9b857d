"""Validation of ``record_request``'s arguments: the limits, and one checker per kind of field.

Every check raises ``ValueError`` naming the field and what is allowed; nothing is written then.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from .. import clock
from ..pricing import SERVICE_TIERS, USAGE_DETAIL_KEYS

#: bytes a queued record takes, at most, without tags or error text (about 290 measured with tracemalloc)
QUEUED_RECORD_BYTES = 400
#: bytes the largest record validation lets in takes, at most: 20 tags of 100 + 200 characters, a
#: 500-character endpoint, error text kept to LLM_METRICS_ERROR_MAX_CHARS (1000) + ERROR_MARGIN characters
MAX_QUEUED_RECORD_BYTES = 64_000
#: characters of an error message kept on the caller's side beyond LLM_METRICS_ERROR_MAX_CHARS: the writer
#: redacts before it truncates, and a secret that starts inside the stored part is matched whole if it
#: is shorter than this
ERROR_MARGIN = 4096
STATUSES = ("success", "failed", "timeout", "rate_limited", "cancelled")
STATUS_SET = frozenset(STATUSES)
#: service_tier values record_request accepts; 'auto' is stored as 'default'
SERVICE_TIER_CHOICES = (*SERVICE_TIERS, "auto")
#: genai-prices usage keys -> the record_request argument each is a part of (usage_details parents)
_MAIN_FIELDS = {
    "input_tokens": "prompt_tokens",
    "output_tokens": "completion_tokens",
    "cache_read_tokens": "cache_read_tokens",
    "cache_write_tokens": "cache_write_tokens",
}
TOKEN_FIELDS = ("prompt_tokens", "completion_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens")
MAX_NAME = 100
MAX_MODEL = 200
MAX_ENDPOINT = 500
MAX_TAGS = 20
MAX_TAG_KEY = 100
MAX_TAG_VALUE = 200
#: upper bounds that keep every stored figure and rollup sum finite and within a 64-bit integer
MAX_TOKENS = 10**12
MAX_SECONDS = 10.0**7
#: the earliest call time accepted (record_request and the HTTP API alike); the latest is a day from now
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_AHEAD = timedelta(days=1)


def whole_tokens(name: str, value) -> int:
    """``value`` as a token count (a whole number from 0 to ``MAX_TOKENS``)."""
    if type(value) is int:  # the common case, fast
        if not 0 <= value <= MAX_TOKENS:
            raise ValueError(f"{name} must be a whole number >= 0 and <= {MAX_TOKENS}, got {value!r}")
        return value
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise ValueError(f"{name} must be a whole number >= 0, got {value!r}")
    value = value.__index__()  # numpy integers and friends
    if not 0 <= value <= MAX_TOKENS:
        raise ValueError(f"{name} must be a whole number >= 0 and <= {MAX_TOKENS}, got {value!r}")
    return value


def seconds(name: str, value) -> float | None:
    """``value`` as a number of seconds (0 to ``MAX_SECONDS``), or None. Numbers only: a bool, a
    string or bytes is refused (``True`` is not one second)."""
    if value is None:
        return None
    if isinstance(value, (bool, str, bytes, bytearray)) or not isinstance(value, (int, float)):
        if isinstance(value, (bool, str, bytes, bytearray)):
            raise ValueError(f"{name} must be a number of seconds >= 0 or None, got {value!r}")
        try:
            value = float(value)  # Decimal, numpy floats
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a number of seconds >= 0 or None, got {value!r}") from None
    if not (0 <= value <= MAX_SECONDS):
        raise ValueError(
            f"{name} must be a finite number of seconds >= 0 and <= {MAX_SECONDS:g}, or None; got {value!r}"
        )
    return float(value)


def first_token(ttft: float | None, duration: float | None) -> None:
    """The time to the first token lies within the call."""
    if ttft is not None and duration is not None and ttft > duration:
        raise ValueError(
            f"time_to_first_token_seconds must not exceed duration_seconds (the first token arrives during "
            f"the call); got {ttft!r} > {duration!r}"
        )


def status(value, allowed: tuple[str, ...]) -> str:
    """``value`` as one of the ``allowed`` statuses (any other value, hashable or not, is refused)."""
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"status must be one of {', '.join(allowed)}; got {value!r}")
    return value


def text(field: str, value: str) -> str:
    """``value`` unchanged if it can be stored as given on every backend; a lone surrogate (which UTF-8
    cannot encode) or a NUL character (which PostgreSQL cannot hold) is refused, naming the field."""
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(
                f"{field} must be valid Unicode text: a lone surrogate U+{ord(value[exc.start]):04X} at index "
                f"{exc.start} cannot be stored (decode bytes with errors='replace' or 'backslashreplace' first)"
            ) from None
    if "\x00" in value:
        raise ValueError(
            f"{field} must not contain a NUL character (found at index {value.index(chr(0))}): "
            "text is stored as given, and PostgreSQL cannot store NUL"
        )
    return value


def storable(value: str) -> str:
    """Text made storable for ``text()`` (NUL and lone surrogates as backslash escapes): for text
    metrics_core writes itself, e.g. an exception's message."""
    if value.isascii() and "\x00" not in value:
        return value
    return value.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


def timestamp(value) -> datetime:
    """``value`` as a timezone-aware datetime from ``EARLIEST`` to a day from now."""
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"timestamp must be a timezone-aware datetime or None, got {value!r}")
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"timestamp must be representable in UTC, got {value!r}") from None
    if not EARLIEST <= value <= clock.now() + LATEST_AHEAD:
        raise ValueError(f"timestamp must lie between 2000-01-01 and a day from now, got {value.isoformat()}")
    return value


def name(field: str, value, max_len: int) -> str:
    """``value`` as a non-empty string of at most ``max_len`` characters."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{field} must be a non-empty string, got {value!r}")
    if len(value) > max_len:
        raise ValueError(f"{field} must be at most {max_len} characters, got {len(value)}")
    return text(field, value)


def endpoint(value, max_len: int) -> str:
    """``value`` as a string of at most ``max_len`` characters."""
    if not isinstance(value, str) or len(value) > max_len:
        raise ValueError(f"endpoint must be a string of at most {max_len} characters or None, got {value!r}")
    return text("endpoint", value)


def tags(tags) -> dict[str, str] | None:
    """``tags`` as a dict of str to str within the limits, or None."""
    if tags is None:
        return None
    if not isinstance(tags, dict):
        raise ValueError(f"tags must be a dict of str to str, got {type(tags).__name__}")
    if len(tags) > MAX_TAGS:
        raise ValueError(f"tags may hold at most {MAX_TAGS} entries, got {len(tags)}")
    for key, value in tags.items():
        if not isinstance(key, str) or not key or len(key) > MAX_TAG_KEY:
            raise ValueError(f"tags keys must be non-empty strings of at most {MAX_TAG_KEY} characters, got {key!r}")
        if not isinstance(value, str) or len(value) > MAX_TAG_VALUE:
            raise ValueError(f"tags[{key!r}] must be a string of at most {MAX_TAG_VALUE} characters, got {value!r}")
        text("tags keys", key)
        text(f"tags[{key!r}]", value)
    return dict(tags) if tags else None


def service_tier(value) -> str:
    """``value`` as a service tier (``auto`` -> ``default``)."""
    if value.__class__ is str:
        tier = value.strip().lower()
        if tier in SERVICE_TIER_CHOICES:
            return "default" if tier == "auto" else tier
    raise ValueError(f"service_tier must be one of {', '.join(SERVICE_TIER_CHOICES)} or None; got {value!r}")


def usage_details(details, counts: dict[str, int]) -> dict[str, int] | None:
    """``details`` as a dict of genai-prices usage names to whole numbers, each token kind no larger
    than the count it is a part of (``counts``: the call's main token counts by argument name).

    Returns the non-zero entries sorted by key, or None when there are none.
    """
    if details is None:
        return None
    allowed = ", ".join(USAGE_DETAIL_KEYS)
    if not isinstance(details, dict):
        raise ValueError(
            f"usage_details must be a dict of usage names to whole numbers (keys: {allowed}); got {details!r}"
        )
    out = {}
    for key, value in details.items():
        if key not in USAGE_DETAIL_KEYS:
            raise ValueError(f"usage_details has an unknown key {key!r}; allowed keys: {allowed}")
        out[key] = whole_tokens(f"usage_details[{key!r}]", value)
    for key, value in out.items():
        for parent in USAGE_DETAIL_KEYS[key]:
            field = _MAIN_FIELDS.get(parent)
            limit = counts[field] if field else out.get(parent, 0)
            if value > limit:
                raise ValueError(
                    f"usage_details[{key!r}] must not exceed {field or f'usage_details[{parent!r}]'}, which includes "
                    f"it; got {value} > {limit}"
                )
    return {k: out[k] for k in sorted(out) if out[k]} or None
