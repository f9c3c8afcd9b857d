"""Deterministic, realistic demo data that shows every feature inside the default 30-day window:
mostly local traffic, a few remote models, a four-hour OpenAI outage nine days ago (the circuit
opens, half-open probes fail, a success closes it), a cost spike four days ago (a long-context batch
job on Claude), some unpriced calls, projects, features and users as tags, the error texts the real
SDKs print, and (``add_budgets``) two budgets, one near its limit. The same seed always gives the
same rows (timestamps are laid out backwards from the day it runs).

Rows go through the writer's own path (``recording.batch.write_batch``): priced, rolled up and fed to
the circuit breakers exactly as recorded calls are.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal

import numpy as np

from . import clock, queries, storage
from .money import CENT
from .policy import budgets
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
# (provider, status) -> error text as the SDKs print it; (None, status) for any provider
ERRORS = {
    ("ollama", "failed"): "ResponseError: model runner has unexpectedly stopped, this may be due to resource "
    "limitations or an internal error (status code: 500)",
    ("ollama", "timeout"): "httpx.ReadTimeout: timed out (POST http://localhost:11434/api/chat)",
    ("localai", "failed"): "InternalServerError: Error code: 500 - {'error': {'code': 500, 'message': 'could not "
    "load model: rpc error: code = Unavailable', 'type': ''}} (http://localhost:8080/v1/chat/completions)",
    ("localai", "timeout"): "APITimeoutError: Request timed out. (http://localhost:8080/v1/chat/completions)",
    ("claude", "failed"): "OverloadedError: Error code: 529 - {'type': 'error', 'error': {'type': "
    "'overloaded_error', 'message': 'Overloaded'}}",
    ("claude", "rate_limited"): "RateLimitError: Error code: 429 - {'type': 'error', 'error': {'type': "
    "'rate_limit_error', 'message': 'This request would exceed the rate limit for your organization of 80,000 "
    "input tokens per minute.'}}",
    ("openai", "failed"): "InternalServerError: Error code: 500 - {'error': {'message': 'The server had an error "
    "while processing your request. Sorry about that!', 'type': 'server_error'}}",
    ("openai", "rate_limited"): "RateLimitError: Error code: 429 - {'error': {'message': 'Rate limit reached for "
    "gpt-4o in organization org-demo on tokens per min (TPM): Limit 30000, Used 29412, Requested 1850.', "
    "'type': 'tokens', 'code': 'rate_limit_exceeded'}}",
    (None, "timeout"): "APITimeoutError: Request timed out.",
    (None, "cancelled"): "client disconnected",
}
OUTAGE_ERRORS = {
    "failed": "InternalServerError: Error code: 503 - {'error': {'message': 'The engine is currently overloaded, "
    "please try again later', 'type': 'server_error'}}",
    "timeout": "APIConnectionError: Connection error. (ConnectTimeout: timed out connecting to api.openai.com)",
}
OUTAGE_HOURS = (10, 14)  # UTC: four hours
OUTAGE_DAYS_AGO, SPIKE_DAYS_AGO = 9, 4
SPIKE_PROMPT_FACTOR = 6  # the spike: remote prompts six times longer (a long-context batch job)


def error_text(provider: str, status: str, outage: bool = False) -> str | None:
    """The error message a call of ``provider`` ending in ``status`` carries (None for a success)."""
    if status == "success":
        return None
    if outage:
        return OUTAGE_ERRORS.get(status, OUTAGE_ERRORS["failed"])
    return ERRORS.get((provider, status)) or ERRORS.get((None, status)) or ERRORS.get((provider, "failed"))


def special_days(days: int) -> tuple[int, int]:
    """Indexes (0 = the first day) of the outage and the cost spike: 9 and 4 days before the last
    day, or as close as a short demo allows."""
    return days - 1 - min(OUTAGE_DAYS_AGO, (days - 1) * 2 // 3), days - 1 - min(SPIKE_DAYS_AGO, (days - 1) // 3)


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
    outage_day, spike_day = special_days(days)
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
        day_items: list[tuple] = []
        for i in range(n):
            provider, model, _share, p_med, c_med, s_med = MODELS[which[i]]
            ts = day_start + timedelta(seconds=seconds[i])
            if ts > now:
                break
            remote = provider in ("claude", "openai")
            outage = d == outage_day and provider == "openai" and OUTAGE_HOURS[0] <= ts.hour < OUTAGE_HOURS[1]
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
            prompt = max(1, int(p_med * prompt_factor[i] * (SPIKE_PROMPT_FACTOR if remote and d == spike_day else 1)))
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
            day_items.append(
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
                    error_text(provider, status, outage),
                    tags,
                    ts,
                    0.0,
                    None,
                    None,
                    True,
                )
            )
        if d == outage_day:
            day_items += _retries(day_start, rng, now)
        items += sorted(day_items, key=lambda item: item[13])
    return items


def _retries(day_start: datetime, rng, now: datetime) -> list[tuple]:
    """During the outage the application keeps retrying OpenAI about every ten minutes: the calls
    that open the circuit early and then probe it while half-open; the first retry after it ends
    succeeds and closes the circuit."""
    start, end = OUTAGE_HOURS
    out = []
    for k in range((end - start) * 6):
        ts = day_start + timedelta(hours=start, minutes=10 * k + float(rng.uniform(0, 8)))
        if ts > now:
            break
        status = "timeout" if k % 3 == 0 else "failed"
        duration = 30.0 if status == "timeout" else round(float(rng.uniform(0.2, 0.6)), 4)
        tags = {"project": "support", "feature": "chat", "user": USERS[k % len(USERS)]}
        out.append(("openai", "gpt-4o-mini", status, ENDPOINTS["openai"], 0, 0, 0, 0, 0, duration, None,
                    error_text("openai", status, outage=True), tags, ts, 0.0, None, None, True))  # fmt: skip
    ts = day_start + timedelta(hours=end, minutes=float(rng.uniform(2, 8)))  # the retry after the fix: it works
    if ts <= now:
        tags = {"project": "support", "feature": "chat", "user": USERS[0]}
        out.append(("openai", "gpt-4o-mini", "success", ENDPOINTS["openai"], 420, 60, 0, 0, 0, 0.8, None, None,
                    tags, ts, 0.0, None, None, True))  # fmt: skip
    return out


NEAR_LIMIT_SHARE = Decimal("0.88")  # the monthly budget is 88% spent when the demo is loaded


def add_budgets(engine=None) -> list[str]:
    """Two demo budgets sized on the data: ``monthly-total`` (all spend, 88% used this month) and
    ``search-weekly`` (project ``search``, weekly, with room to spare). Returns their names."""
    engine = engine or storage.get_engine()
    today = clock.today()
    month = queries.Window(today.replace(day=1), today)
    week = queries.Window(today - timedelta(days=today.weekday()), today)
    spent = queries.cost_summary(window=month, engine=engine)["total_cost_usd"] or Decimal(0)
    search = queries.tag_costs(window=week, tag_key="project", engine=engine)
    search_spent = Decimal(str(search.loc[search["tag_value"] == "search", "total_cost_usd"].sum() or 0))
    budgets.set_budget(name="monthly-total", amount_usd=max(CENT, (spent / NEAR_LIMIT_SHARE).quantize(CENT)),
                       engine=engine)  # fmt: skip
    budgets.set_budget(name="search-weekly", amount_usd=max(CENT, (search_spent * 3).quantize(CENT)),
                       scope="tag:project=search", period="weekly", engine=engine)  # fmt: skip
    return ["monthly-total", "search-weekly"]


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
