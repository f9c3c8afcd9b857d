"""Error messages are stored redacted (obvious secrets removed) and truncated."""

from __future__ import annotations

import re

REDACTED = "[REDACTED]"

_PATTERNS = [
    # provider API keys: OpenAI sk-..., sk-proj-..., Anthropic sk-ant-..., and friends
    re.compile(r"\b(?:sk|pk|rk)-[A-Za-z0-9_\-]{8,}"),
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),  # AWS access key id
    re.compile(r"\bAIza[0-9A-Za-z_\-]{30,}"),  # Google API key
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"),  # GitHub tokens
    re.compile(r"\bxox[abpors]-[A-Za-z0-9\-]{10,}"),  # Slack tokens
    re.compile(r"\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]+"),  # JWT
]
# "Bearer abc", "api_key=abc", "x-api-key: abc", "password: abc", "token='abc'": keep the name
_NAMED = re.compile(
    r"(?i)(\bbearer\s+|\b(?:x-)?api[_\-]?key[\"']?\s*[:=]\s*[\"']?|\b(?:access[_\-]?)?token[\"']?\s*[:=]\s*[\"']?"
    r"|\bsecret[\"']?\s*[:=]\s*[\"']?|\bpassword[\"']?\s*[:=]\s*[\"']?|\bauthorization[\"']?\s*[:=]\s*[\"']?(?:bearer\s+)?)"
    r"([^\s\"',;}&]+)"
)


def redact(text: str) -> str:
    """Replace anything that looks like a credential with ``[REDACTED]``."""
    for pattern in _PATTERNS:
        text = pattern.sub(REDACTED, text)
    return _NAMED.sub(lambda m: m.group(1) + REDACTED, text)


def clean_error(text: str | None, max_chars: int) -> str | None:
    """Redact, then truncate to ``max_chars`` (ending in an ellipsis when cut)."""
    if text is None:
        return None
    text = redact(str(text))
    if len(text) > max_chars:
        text = text[: max_chars - 1] + "…"
    return text
