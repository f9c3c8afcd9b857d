"""Validation of ``record_request``'s arguments: the limits, and one checker per kind of field.

Every check raises ``ValueError`` naming the field and what is allowed; nothing is written then.
"""

from __future__ import annotations

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
    """``value`` as a number of seconds (0 to ``MAX_SECONDS``), or None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            value = float(value)  # Decimal, numpy floats
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a number of seconds >= 0 or None, got {value!r}") from None
    if not (0 <= value <= MAX_SECONDS):
        raise ValueError(
            f"{name} must be a finite number of seconds >= 0 and <= {MAX_SECONDS:g}, or None; got {value!r}"
        )
    return float(value)


def name(field: str, value, max_len: int) -> str:
    """``value`` as a non-empty string of at most ``max_len`` characters."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{field} must be a non-empty string, got {value!r}")
    if len(value) > max_len:
        raise ValueError(f"{field} must be at most {max_len} characters, got {len(value)}")
    return value


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
