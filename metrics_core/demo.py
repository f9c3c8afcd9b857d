"""Deterministic, realistic demo data: mostly local traffic, a few remote models, an outage that
opens a circuit, some unpriced calls. The same seed always gives the same rows (timestamps are
laid out backwards from the day it runs).

Rows go through the writer's own path (``recording.batch.write_batch``): priced, rolled up and fed to
the circuit breakers exactly as recorded calls are.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import numpy as np

from . import clock, storage
from .recording.batch import write_batch
from .recording.registry import ProviderCache

# provider, model, share of traffic, median prompt, median completion, median seconds
MODELS = [
    ("ollama", "llama3.2", 0.42, 700, 250, 0.9),
    ("ollama", "qwen2.5-coder:7b", 0.20, 1500, 400, 1.6),
    ("localai", "mistral-7b-instruct", 0.12, 600, 200, 1.2),
    ("claude", "claude-sonnet-4-5", 0.10, 2500, 450, 3.5),
    ("claude", "claude-haiku-4-5", 0.05, 1200, 300, 1.1),
    ("openai", "gpt-4o", 0.05, 1800, 350, 2.4),
    ("openai", "gpt-4o-mini", 0.04, 900, 250, 1.0),
    ("openai", "acme-support-ft-v2", 0.02, 800, 200, 1.4),  # a fine-tune genai-prices cannot price
]
PROJECTS = ["search", "support", "codegen"]
FEATURES = ["chat", "summarize", "classify", "autocomplete"]
USERS = [f"user{i:02d}" for i in range(12)]
ERRORS = {
    "failed": "HTTPStatusError: Server error '500 Internal Server Error' for url 'https://api.example.com/v1/chat'",
    "timeout": "APITimeoutError: Request timed out.",
    "rate_limited": "RateLimitError: Error code: 429 - rate limit exceeded for organization",
    "cancelled": "client disconnected",
}
ENDPOINTS = {
    "ollama": "/api/chat",
    "localai": "/v1/chat/completions",
    "claude": "/v1/messages",
    "openai": "/v1/chat/completions",
}


def generate(days: int = 90, per_day: int = 300, seed: int = 42, *, now: datetime | None = None) -> list[tuple]:
    """The demo calls, oldest first, as the recorder's queue items."""
    if days < 1 or per_day < 1:
        raise ValueError(f"days and per_day must be >= 1, got days={days}, per_day={per_day}")
    rng = np.random.default_rng(seed)
    now = now or clock.now()
    first_day = (now - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    shares = np.array([m[2] for m in MODELS])
    shares = shares / shares.sum()
    outage_day = days // 3
    items: list[tuple] = []
    for d in range(days):
        day_start = first_day + timedelta(days=d)
        weekday = day_start.weekday()
        growth = 0.8 + 0.4 * d / max(days - 1, 1)  # traffic grows over the window
        n = int(per_day * growth * (0.45 if weekday >= 5 else 1.0))
        seconds = np.sort(rng.beta(2.2, 2.0, n) * 86400)  # busiest around mid-afternoon UTC
        which = rng.choice(len(MODELS), size=n, p=shares)
        prompt_factor = rng.lognormal(0.0, 0.6, n)
        completion_factor = rng.lognormal(0.0, 0.5, n)
        dur_factor = rng.lognormal(0.0, 0.35, n)
        streamed = rng.random(n) < 0.4
        ttft_share = rng.uniform(0.05, 0.25, n)
        status_draw = rng.random(n)
        cache_draw = rng.random(n)
        cache_share = rng.uniform(0.3, 0.9, n)
        project = rng.integers(0, len(PROJECTS), n)
        feature = rng.integers(0, len(FEATURES), n)
        user = rng.integers(0, len(USERS), n)
        # plain lists: indexing them is several times cheaper than indexing numpy arrays
        (
            seconds,
            which,
            prompt_factor,
            completion_factor,
            dur_factor,
            streamed,
            ttft_share,
            status_draw,
            cache_draw,
            cache_share,
            project,
            feature,
            user,
        ) = (
            a.tolist()
            for a in (
                seconds,
                which,
                prompt_factor,
                completion_factor,
                dur_factor,
                streamed,
                ttft_share,
                status_draw,
                cache_draw,
                cache_share,
                project,
                feature,
                user,
            )
        )
        for i in range(n):
            provider, model, _share, p_med, c_med, s_med = MODELS[which[i]]
            ts = day_start + timedelta(seconds=seconds[i])
            if ts > now:
                break
            remote = provider in ("claude", "openai")
            outage = d == outage_day and provider == "openai" and 10 <= ts.hour < 18
            draw = status_draw[i]
            if outage:
                status = "timeout" if draw < 0.3 else "failed"
            elif draw < 0.965:
                status = "success"
            elif draw < 0.98:
                status = "failed"
            elif draw < 0.99:
                status = "timeout"
            elif draw < 0.996 and remote:
                status = "rate_limited"
            else:
                status = "cancelled" if draw >= 0.996 else "failed"
            prompt = max(1, int(p_med * prompt_factor[i]))
            completion = max(1, int(c_med * completion_factor[i])) if status == "success" else 0
            if status in ("failed", "rate_limited"):
                prompt = 0
            cache_read = int(prompt * cache_share[i]) if provider == "claude" and cache_draw[i] < 0.35 else 0
            cache_write = int(prompt * 0.2) if provider == "claude" and 0.35 <= cache_draw[i] < 0.42 else 0
            if provider == "openai" and cache_draw[i] < 0.2:
                cache_read = int(prompt * cache_share[i]) // 128 * 128
            duration = s_med * dur_factor[i] * (0.3 if status in ("failed", "rate_limited") else 1.0)
            if status == "timeout":
                duration = 30.0 + dur_factor[i]
            ttft = duration * ttft_share[i] if streamed[i] and status == "success" else None
            tags = {"project": PROJECTS[project[i]], "feature": FEATURES[feature[i]], "user": USERS[user[i]]}
            items.append(
                (
                    provider,
                    model,
                    status,
                    ENDPOINTS[provider],
                    prompt,
                    completion,
                    cache_read,
                    cache_write,
                    0,
                    round(duration, 4),
                    None if ttft is None else round(ttft, 4),
                    ERRORS.get(status),
                    tags,
                    ts,
                    0.0,
                    None,
                    None,
                    True,
                )
            )
    return items


def load(
    engine=None,
    days: int = 90,
    per_day: int = 300,
    seed: int = 42,
    *,
    batch_size: int = 20_000,
    progress: Callable[[int, int], None] | None = None,
    now: datetime | None = None,
) -> int:
    """Generate the demo calls and write them; returns how many. ``progress(done, total)`` is called
    after each batch."""
    engine = engine or storage.get_engine()
    items = generate(days, per_day, seed, now=now)
    cache = ProviderCache()
    overrides: dict = {}
    for start in range(0, len(items), batch_size):
        batch = items[start : start + batch_size]
        write_batch(engine, batch, cache, overrides)
        if progress:
            progress(min(start + batch_size, len(items)), len(items))
    return len(items)
