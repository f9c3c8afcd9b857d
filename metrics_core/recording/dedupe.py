"""One provider response is one call: drop a record whose (provider, response id) was seen recently.

Two instrumentations often see the same call (the Anthropic SDK's own span and
``instrument()``; Traceloop's span and the SDK's; an OTLP export and a processor). Each passes
the provider's response id to ``record_request(response_id=...)``; the first record of a response
is kept, later ones within the window are dropped and counted (``recording.stats()``).

The memory is this process's only (no database read on the hot path): at most ``MAX_ENTRIES``
ids (the oldest leave first); an id seen more than ``WINDOW_SECONDS`` ago no longer counts.
Two processes that record the same response (a service exporting OTLP to ``llm-metrics serve``
*and* recording it itself; two ``serve --workers``) are not deduplicated.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterable

WINDOW_SECONDS = 600.0
MAX_ENTRIES = 65_536


class Seen:
    """A bounded, time-windowed set of (provider, response id) keys; thread-safe."""

    def __init__(self, *, window_seconds: float = WINDOW_SECONDS, max_entries: int = MAX_ENTRIES) -> None:
        if window_seconds <= 0 or max_entries < 1:
            raise ValueError(
                f"window_seconds must be > 0 and max_entries >= 1, got {window_seconds!r} and {max_entries!r}"
            )
        self.window_seconds = window_seconds
        self.max_entries = max_entries
        self.keys: OrderedDict[tuple[str, str], float] = OrderedDict()  # key -> when first seen (monotonic)
        self.duplicates = 0
        self.lock = threading.Lock()

    def check(self, provider: str, response_id: str, now: float | None = None) -> bool:
        """True when the key was seen within the window (a duplicate, counted); else note it, False."""
        now = time.monotonic() if now is None else now
        key = (provider, response_id)
        keys = self.keys
        with self.lock:
            first = keys.get(key)
            if first is not None and now - first < self.window_seconds:
                self.duplicates += 1
                return True
            if first is not None:
                del keys[key]  # expired: noted again, as the newest
            keys[key] = now
            if len(keys) > self.max_entries:  # expired keys are ignored on lookup and leave with the oldest
                keys.popitem(last=False)
            return False

    def contains(self, provider: str, response_id: str, now: float | None = None) -> bool:
        """Whether the key was seen within the window (a look only: nothing noted or counted)."""
        now = time.monotonic() if now is None else now
        first = self.keys.get((provider, response_id))
        return first is not None and now - first < self.window_seconds

    def forget(self, keys: Iterable[tuple[str, str]]) -> None:
        """Forget keys noted by calls whose records were then not stored."""
        with self.lock:
            for key in keys:
                self.keys.pop(key, None)

    def clear(self) -> None:
        with self.lock:
            self.keys.clear()
            self.duplicates = 0


_seen = Seen()


def is_duplicate(provider: str, response_id: str) -> bool:
    """Whether this response was already recorded in this process within the window (then counted)."""
    return _seen.check(provider, response_id)


def seen(provider: str, response_id: str) -> bool:
    """Whether this response was already recorded in this process within the window (a look only)."""
    return _seen.contains(provider, response_id)


def forget(keys: Iterable[tuple[str, str]]) -> None:
    """Forget ``(provider, response id)`` keys whose records were not stored after all."""
    _seen.forget(keys)


def count_duplicate() -> None:
    """Count a record dropped as a duplicate by its caller (a span inside an ``instrument()``-ed call)."""
    with _seen.lock:
        _seen.duplicates += 1


def duplicates() -> int:
    """Records dropped as duplicates since the process started (or the last :func:`configure`)."""
    return _seen.duplicates


def configure(*, window_seconds: float = WINDOW_SECONDS, max_entries: int = MAX_ENTRIES) -> None:
    """Start over with an empty memory of this size (tests; the defaults otherwise)."""
    global _seen
    _seen = Seen(window_seconds=window_seconds, max_entries=max_entries)
