"""Log-spaced latency histogram: percentiles from the daily rollup instead of raw rows.

A duration of ``ms`` milliseconds falls in bucket ``floor(log(ms) / log(RATIO))``. A bucket is read
back as its geometric middle, so any percentile is within ``sqrt(RATIO) - 1`` (about 1%) of the
exact nearest-rank value, whatever the number of calls.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

RATIO = 1.02
_LOG_RATIO = math.log(RATIO)
_FLOOR_MS = 0.001  # durations under a microsecond share the lowest bucket
RELATIVE_ERROR = math.sqrt(RATIO) - 1


def bucket(ms: float) -> int:
    """The bucket a duration in milliseconds falls in."""
    return math.floor(math.log(max(ms, _FLOOR_MS)) / _LOG_RATIO)


def bucket_value(b: int) -> float:
    """The value a bucket stands for (its geometric middle), in milliseconds."""
    return math.exp((b + 0.5) * _LOG_RATIO)


def percentiles(counts: Iterable[tuple[int, int]], ps: Iterable[float]) -> dict[float, float | None]:
    """Nearest-rank percentiles from ``(bucket, count)`` pairs; None for each when there is no data."""
    ordered = sorted((b, c) for b, c in counts if c)
    total = sum(c for _, c in ordered)
    result: dict[float, float | None] = {}
    for p in ps:
        if total == 0:
            result[p] = None
            continue
        rank = max(1, math.ceil(p / 100 * total))
        seen = 0
        for b, c in ordered:
            seen += c
            if seen >= rank:
                result[p] = bucket_value(b)
                break
    return result
