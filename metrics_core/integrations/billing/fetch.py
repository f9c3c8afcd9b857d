"""HTTP for the admin report endpoints: the key, retries with back-off, and pagination.

The admin key lives only in the request headers of this module's calls: no message, repr or
log line holds it.
"""

from __future__ import annotations

import email.utils
import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx

from metrics_core.integrations.billing.errors import (
    AdminKeyRejected,
    BillingUnavailable,
    IncompletePull,
    MissingAdminKey,
)

log = logging.getLogger("metrics_core.integrations.billing")

DEFAULT_TIMEOUT = 30.0
"""Seconds per HTTP request."""
MAX_ATTEMPTS = 4
"""Attempts per page, the first included, before a 429/5xx becomes ``BillingUnavailable``."""
MAX_PAGES = 1000
"""A report that still says ``has_more`` after this many pages is treated as broken."""
USER_AGENT = "llm-metrics (recorded vs billed)"
"""Sent with every request, as Anthropic asks integrations to identify themselves."""
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504, 529})
MAX_BACKOFF = 60.0
"""Longest wait between attempts, whatever ``retry-after`` asks."""

_SECRET_LIKE = re.compile(r"sk-[A-Za-z0-9_*\-]{4,}")


class AdminKey:
    """An admin key and the environment variable it came from; its repr shows only the variable."""

    __slots__ = ("_value", "variable")

    def __init__(self, value: str, variable: str) -> None:
        self._value, self.variable = value, variable

    @classmethod
    def from_env(cls, variable: str, environ: Mapping[str, str] | None = None) -> AdminKey:
        """Read the key from ``variable``; ``MissingAdminKey`` naming it when unset or empty."""
        value = (os.environ if environ is None else environ).get(variable, "").strip()
        if not value:
            raise MissingAdminKey(f"{variable} is not set: export an admin API key in {variable} to pull billed usage")
        return cls(value, variable)

    def reveal(self) -> str:
        """The key itself, for a request header only."""
        return self._value

    def __repr__(self) -> str:
        return f"AdminKey(variable={self.variable!r})"

    __str__ = __repr__


class Endpoint:
    """One provider's HTTP session: base URL, headers, key, timeout, retry and sleep policy."""

    def __init__(
        self,
        *,
        provider: str,
        key: AdminKey,
        base_url: str,
        headers: Callable[[AdminKey], dict[str, str]],
        client: httpx.Client | None,
        timeout: float,
        max_attempts: int,
        sleep: Callable[[float], None],
        key_hint: str,
    ) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts!r}")
        self.provider, self.key, self.base_url = provider, key, base_url.rstrip("/")
        self.headers, self.client, self.timeout = headers, client, timeout
        self.max_attempts, self.sleep, self.key_hint = max_attempts, sleep, key_hint

    def __repr__(self) -> str:
        return f"Endpoint(provider={self.provider!r}, base_url={self.base_url!r}, key={self.key!r})"

    def pages(self, path: str, params: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        """Yield every page of a ``has_more``/``next_page`` report, passing the cursor as ``page``."""
        own = self.client is None
        client = httpx.Client(timeout=self.timeout) if own else self.client
        try:
            cursor: str | None = None
            for _ in range(MAX_PAGES):
                query = dict(params) if cursor is None else {**params, "page": cursor}
                page = self._get(client, path, query)
                yield page
                has_more = page.get("has_more")
                if has_more is not True:
                    if has_more is not False:
                        raise IncompletePull(f"{self.provider} {path}: the page has no has_more flag")
                    return
                cursor = page.get("next_page")
                if not isinstance(cursor, str) or not cursor:
                    raise IncompletePull(f"{self.provider} {path}: has_more is true but next_page is missing")
            raise IncompletePull(f"{self.provider} {path}: still has_more after {MAX_PAGES} pages")
        finally:
            if own:
                client.close()

    def _get(self, client: httpx.Client, path: str, query: Mapping[str, Any]) -> dict[str, Any]:
        url = f"{self.base_url}{path}"
        for attempt in range(1, self.max_attempts + 1):
            try:
                headers = {"User-Agent": USER_AGENT, **self.headers(self.key)}
                response = client.get(url, params=query, headers=headers, timeout=self.timeout)
            except httpx.TimeoutException:
                raise BillingUnavailable(
                    f"{self.provider} {path} timed out after {self.timeout:g}s; nothing was kept, try again later"
                ) from None
            except httpx.TransportError as exc:
                raise BillingUnavailable(
                    f"{self.provider} {path}: cannot connect to {self.base_url} ({type(exc).__name__})"
                ) from None
            status = response.status_code
            if status == 200:
                return self._decode(response, path)
            if status in (401, 403):
                raise AdminKeyRejected(
                    f"{self.provider} rejected {self.key.variable} (HTTP {status}{self._detail(response)}): "
                    f"the key is wrong or revoked, or it is not an admin key ({self.key_hint})"
                )
            if status in RETRY_STATUSES and attempt < self.max_attempts:
                wait = retry_wait(response.headers.get("retry-after"), attempt)
                log.warning("%s %s: HTTP %s, retry %d in %.1fs", self.provider, path, status, attempt, wait)
                self.sleep(wait)
                continue
            tries = f" after {attempt} attempts" if status in RETRY_STATUSES else ""
            raise BillingUnavailable(f"{self.provider} {path}: HTTP {status}{tries}{self._detail(response)}")
        raise AssertionError("unreachable")  # pragma: no cover

    def _decode(self, response: httpx.Response, path: str) -> dict[str, Any]:
        try:
            page = json.loads(response.content, parse_float=Decimal)
        except ValueError:
            raise IncompletePull(f"{self.provider} {path}: the response is not JSON") from None
        if not isinstance(page, dict) or not isinstance(page.get("data"), list):
            raise IncompletePull(f"{self.provider} {path}: the response has no data list")
        return page

    def _detail(self, response: httpx.Response) -> str:
        """The provider's own error message, short and scrubbed of anything key-like."""
        try:
            error = response.json().get("error") or {}
            message = str(error.get("message") or "") if isinstance(error, dict) else str(error)
        except (ValueError, AttributeError):
            return ""
        message = _SECRET_LIKE.sub("sk-***", message.replace(self.key.reveal(), "***"))[:200]
        return f": {message}" if message else ""


def retry_wait(retry_after: str | None, attempt: int) -> float:
    """Seconds to wait before the next attempt: ``retry-after`` (seconds or HTTP date) or 1, 2, 4..."""
    wait = float(2 ** (attempt - 1))
    if retry_after:
        try:
            wait = float(retry_after)
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(retry_after)
                wait = (when - datetime.now(UTC)).total_seconds()
            except (TypeError, ValueError):
                pass
    return min(max(wait, 0.0), MAX_BACKOFF)


def default_sleep(seconds: float) -> None:
    """``time.sleep``, looked up at call time so a test can replace it."""
    time.sleep(seconds)
