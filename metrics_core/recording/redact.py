"""Error messages, endpoints and tag values are stored redacted (secrets removed); errors truncated.

The rules: the token shapes of ``detect-secrets``' regex plugins (AWS, GitHub, GitLab, Stripe,
Slack, SendGrid, Twilio, npm, PyPI, JWT, ... : a maintained rule set, loaded on the first
redaction, so importing metrics_core stays fast), its list of secret-looking keywords
(``password``, ``passwd``, ``pwd``, ``secret``, ``api_key``, ``db_pass``, ... with any prefix or
suffix: ``db_password=``, ``PGPASSWORD=``, ``aws_secret_access_key=``) followed by ``=`` or ``:``,
and our own for what those miss: provider keys (``sk-``, ``sk-ant-``, Stripe ``sk_live_`` of any
length, Hugging Face ``hf_``, GitHub ``github_pat_``, Google ``AIza``), ``Bearer``/``token``/
``Authorization`` values, passwords in URLs (``postgresql://app:pw@host``), query parameters such as
``?key=`` or ``&access_token=``, PEM private keys, and a bare 40-character AWS secret key in a text
that mentions AWS or holds an AWS access key id. A name before a secret is kept:
``password=[REDACTED]``.
"""

from __future__ import annotations

import functools
import re

REDACTED = "[REDACTED]"

#: detect-secrets plugins left out: public IPs are no secret, the private-key plugin matches only the
#: PEM header (ours takes the whole block), basic auth is covered by ours (passwords with any characters)
_SKIPPED_PLUGINS = frozenset({"IPPublicDetector", "PrivateKeyDetector", "BasicAuthDetector", "KeywordDetector"})
_EDGE = " \t\r\n\"'=:"  # delimiters some detect-secrets patterns include around the secret

_PEM = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)", re.S)
# every token shape is a run of at least this many token characters: the shapes are searched in such
# runs only, which keeps redaction of ordinary error text cheap
_RUN = re.compile(r"[A-Za-z0-9_\-/+=.:@]{16,}")
MAX_RUN = 300  # longer runs (blobs) get our own shapes only: the joined detect-secrets pattern costs ~1 µs a character
_OWN_TOKENS = [
    re.compile(r"\b(?:sk|pk|rk)-[A-Za-z0-9_\-]{8,}"),  # OpenAI sk-..., sk-proj-..., Anthropic sk-ant-...
    re.compile(r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{8,}"),  # Stripe secret and restricted keys, any length
    re.compile(r"\bhf_[A-Za-z0-9]{20,}"),  # Hugging Face
    re.compile(r"\bgithub_pat_[A-Za-z0-9_]{20,}"),  # GitHub fine-grained tokens
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"),  # GitHub classic tokens, any length
    re.compile(r"\b(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b"),  # AWS access key ids
    re.compile(r"\bAIza[0-9A-Za-z_\-]{30,}"),  # Google API key
    re.compile(r"\bxox[abpors]-[A-Za-z0-9\-]{10,}"),  # Slack tokens
    re.compile(r"\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]+"),  # JWT
]
# a URL's password: scheme://user:PASSWORD@host (the last @ of the authority ends it)
_URL_PASSWORD = re.compile(r"(?i)(\b[a-z][a-z0-9+.\-]*://[^\s/:@]*:)([^\s/]+)(@)")
# "Bearer abc", "x-api-key: abc", "token='abc'", "Authorization: Bearer abc", "?key=abc", "&sig=abc"
_NAMED = re.compile(
    r"(?i)(\bbearer\s+|\b(?:x-)?api[_\-]?key[\"']?\s*[:=]\s*[\"']?|\b(?:access[_\-]?|refresh[_\-]?|id[_\-]?)?token"
    r"[\"']?\s*[:=]\s*[\"']?|\bauthorization[\"']?\s*[:=]\s*[\"']?(?:bearer\s+|basic\s+|token\s+)?"
    r"|[?&](?:key|sig|signature|code|auth|apikey|access_token|client_secret)=)"
    r"([^\s\"',;}&]+)"
)
_AWS_CONTEXT = re.compile(r"(?i)\baws|_aws|\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")
_BARE_40 = re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")


@functools.cache
def _rules() -> tuple[re.Pattern, re.Pattern]:
    """One pattern for the token shapes of detect-secrets' regex plugins, and the
    keyword rule made from detect-secrets' keyword list (compiled once, on first use)."""
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
    from detect_secrets.plugins.base import RegexBasedDetector
    from detect_secrets.plugins.keyword import DENYLIST

    shapes = []
    for plugin in get_mapping_from_secret_type_to_class().values():
        if issubclass(plugin, RegexBasedDetector) and plugin.__name__ not in _SKIPPED_PLUGINS:
            shapes += [_without_groups(p.pattern) for p in plugin.denylist if _is_shape(p)]
    tokens = re.compile("|".join(f"(?:{shape})" for shape in shapes), re.S)
    keywords = "|".join(DENYLIST)
    # a word holding a keyword (db_password, PGPASSWORD, aws_secret_access_key), then = or :, then the value
    named = re.compile(rf"(?i)((?<![A-Za-z0-9_])\w*?(?:{keywords})\w*[\"']?\s*(?:=>|:=|[:=])\s*[\"']?)([^\s\"',;}}&]+)")
    return tokens, named


def _is_shape(pattern: re.Pattern) -> bool:
    """A pattern for a token on its own (not one that needs the words around it, which the keyword
    rule covers, nor a verbose one)."""
    return not pattern.flags & re.VERBOSE and "(?<=" not in pattern.pattern and ".{" not in pattern.pattern


def _without_groups(pattern: str) -> str:
    """``pattern`` with its capturing groups made non-capturing (so many patterns can be joined)."""
    return re.sub(r"(?<!\\)\((?!\?)", "(?:", pattern)


def _redact_match(match: re.Match) -> str:
    text = match.group(0)
    inner = text.strip(_EDGE)
    if not inner:
        return text
    start = text.index(inner)
    return text[:start] + REDACTED + text[start + len(inner) :]


def _looks_like_aws_secret(match: re.Match) -> str:
    value = match.group(0)
    mixed = any(c.islower() for c in value) and any(c.isupper() for c in value)
    return REDACTED if mixed and any(c.isdigit() or c in "/+" for c in value) else value


def redact(text: str) -> str:
    """Replace anything that looks like a credential with ``[REDACTED]``."""
    tokens, named = _rules()
    low = text.lower()
    aws_context = _AWS_CONTEXT.search(text) is not None
    if "private key" in low:
        text = _PEM.sub(REDACTED, text)
    if "://" in text:
        text = _URL_PASSWORD.sub(lambda m: m.group(1) + REDACTED + m.group(3), text)
    for pattern in _OWN_TOKENS:
        text = pattern.sub(REDACTED, text)
    text = _RUN.sub(lambda m: tokens.sub(_redact_match, m.group(0)) if len(m.group(0)) <= MAX_RUN else m.group(0), text)
    if "key" in low or "pass" in low or "pwd" in low or "secret" in low or "contrase" in low:
        text = named.sub(lambda m: m.group(1) + REDACTED, text)
    if "earer" in low or "key" in low or "token" in low or "author" in low or "=" in text:
        text = _NAMED.sub(lambda m: m.group(1) + REDACTED, text)
    if aws_context:
        text = _BARE_40.sub(_looks_like_aws_secret, text)
    return text


@functools.lru_cache(maxsize=4096)
def redact_cached(text: str) -> str:
    """``redact`` for text that repeats (endpoints, tag values): computed once per distinct value."""
    return redact(text)


def clean_error(text: str | None, max_chars: int) -> str | None:
    """Redact, then truncate to ``max_chars`` (ending in an ellipsis when cut)."""
    if text is None:
        return None
    text = redact(str(text))
    if len(text) > max_chars:
        text = text[: max_chars - 1] + "…"
    return text
