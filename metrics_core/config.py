"""Settings read from the environment, with documented defaults.

Every setting has an environment variable (listed in the README's configuration table and in
``ENV_VARS`` below, which a test checks against the README).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

DEFAULT_DB_URL = "sqlite:///data/metrics.db"

#: environment variable -> one-line description (the README documents each of them)
ENV_VARS = {
    "LLM_METRICS_DB_URL": "SQLAlchemy URL of the metrics database",
    "LLM_METRICS_SYNC": "1 = write each record before record_request() returns",
    "LLM_METRICS_REFERENCE_PROVIDER": "pricing provider of the reference model",
    "LLM_METRICS_REFERENCE_MODEL": "model whose price the savings are measured against",
    "LLM_METRICS_LOCAL_PROVIDERS": "extra provider names that run locally and cost 0",
    "LLM_METRICS_CIRCUIT_FAILURES": "consecutive failures that open a provider's circuit",
    "LLM_METRICS_CIRCUIT_COOLDOWN": "seconds an open circuit waits before half-open",
    "LLM_METRICS_ERROR_MAX_CHARS": "longest error message stored",
    "LLM_METRICS_QUEUE_SIZE": "records the background writer may hold before dropping",
    "LLM_METRICS_BATCH_SIZE": "records written per transaction",
    "LLM_METRICS_FLUSH_INTERVAL": "seconds between background writes",
    "LLM_METRICS_ALERT_URLS": "apprise URLs alerts are sent to (comma or space separated)",
    "LLM_METRICS_ALERTS_FILE": "TOML file with alert URLs and rule settings",
    "LLM_METRICS_ALERT_INTERVAL": "seconds between the writer's alert checks (0 = off; default 60)",
    "LLM_METRICS_DASHBOARD_PASSWORD": "password the dashboard asks for before showing anything",
    "LLM_METRICS_DB_POOL_SIZE": "connections each process keeps open to a server database (PostgreSQL)",
    "LLM_METRICS_DB_MAX_OVERFLOW": "extra connections a process may open at peaks (PostgreSQL)",
    "LLM_METRICS_API_MAX_BODY_BYTES": "largest request body the HTTP API accepts (413 beyond)",
    "LLM_METRICS_API_MAX_BATCH": "most calls one POST /api/llm/record may carry",
    "OPENAI_ADMIN_KEY": "OpenAI admin key `llm-metrics reconcile --provider openai` reads (never stored or logged)",
    "ANTHROPIC_ADMIN_KEY": "Anthropic admin key `llm-metrics reconcile --provider anthropic` reads (never stored)",
    "LLM_METRICS_RESERVATION_TTL": "seconds a hard-budget hold lasts if its call is never settled (default 600)",
    "LLM_METRICS_DEFAULT_MAX_OUTPUT_TOKENS": "output bound instrument() holds for when a request sets no max tokens",
    "LLM_METRICS_SPILL_DIR": "folder for counts of records lost at exit (default: next to a SQLite file)",
}

#: our provider names -> genai-prices provider ids
DEFAULT_PRICING_PROVIDERS = {
    "claude": "anthropic",
    "anthropic": "anthropic",
    "openai": "openai",
    "gemini": "google",
    "google": "google",
    "mistral": "mistral",
    "groq": "groq",
    "deepseek": "deepseek",
    "bedrock": "aws",
    "azure": "azure",
    "openrouter": "openrouter",
    "together": "together",
    "fireworks": "fireworks",
    "cohere": "cohere",
    "x-ai": "x-ai",
    "xai": "x-ai",
}

DEFAULT_LOCAL_PROVIDERS = frozenset({"ollama", "localai", "llamacpp", "vllm", "lmstudio"})


def _int(name: str, default: int, minimum: int = 1) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return value


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not value >= 0 or value == float("inf"):
        raise ValueError(f"{name} must be a finite number >= 0, got {raw!r}")
    return value


@dataclass(frozen=True)
class Settings:
    """A snapshot of the configuration; ``settings()`` builds one from the environment."""

    db_url: str = DEFAULT_DB_URL
    sync: bool = False
    reference_provider: str = "anthropic"
    reference_model: str = "claude-sonnet-4-5"
    local_providers: frozenset[str] = DEFAULT_LOCAL_PROVIDERS
    circuit_failures: int = 5
    circuit_cooldown_seconds: float = 60.0
    error_max_chars: int = 1000
    queue_size: int = 100_000
    batch_size: int = 5_000
    flush_interval_seconds: float = 1.0
    db_pool_size: int = 5
    db_max_overflow: int = 10
    api_max_body_bytes: int = 1_048_576
    api_max_batch: int = 1000
    reservation_ttl_seconds: float = 600.0
    default_max_output_tokens: int = 4096
    spill_dir: str | None = None
    pricing_providers: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_PRICING_PROVIDERS))


def settings() -> Settings:
    """Read the settings from the environment (cheap; call it when you need them)."""
    extra_local = os.environ.get("LLM_METRICS_LOCAL_PROVIDERS", "")
    local = DEFAULT_LOCAL_PROVIDERS | {n.strip().lower() for n in extra_local.split(",") if n.strip()}
    return Settings(
        db_url=os.environ.get("LLM_METRICS_DB_URL") or DEFAULT_DB_URL,
        sync=os.environ.get("LLM_METRICS_SYNC", "").strip().lower() in {"1", "true", "yes", "on"},
        reference_provider=os.environ.get("LLM_METRICS_REFERENCE_PROVIDER") or "anthropic",
        reference_model=os.environ.get("LLM_METRICS_REFERENCE_MODEL") or "claude-sonnet-4-5",
        local_providers=frozenset(local),
        circuit_failures=_int("LLM_METRICS_CIRCUIT_FAILURES", 5),
        circuit_cooldown_seconds=_float("LLM_METRICS_CIRCUIT_COOLDOWN", 60.0),
        error_max_chars=_int("LLM_METRICS_ERROR_MAX_CHARS", 1000, minimum=20),
        queue_size=_int("LLM_METRICS_QUEUE_SIZE", 100_000),
        batch_size=_int("LLM_METRICS_BATCH_SIZE", 5_000),
        flush_interval_seconds=_float("LLM_METRICS_FLUSH_INTERVAL", 1.0),
        db_pool_size=_int("LLM_METRICS_DB_POOL_SIZE", 5),
        db_max_overflow=_int("LLM_METRICS_DB_MAX_OVERFLOW", 10, minimum=0),
        api_max_body_bytes=_int("LLM_METRICS_API_MAX_BODY_BYTES", 1_048_576, minimum=1024),
        api_max_batch=_int("LLM_METRICS_API_MAX_BATCH", 1000),
        reservation_ttl_seconds=_float("LLM_METRICS_RESERVATION_TTL", 600.0),
        default_max_output_tokens=_int("LLM_METRICS_DEFAULT_MAX_OUTPUT_TOKENS", 4096),
        spill_dir=os.environ.get("LLM_METRICS_SPILL_DIR") or None,
    )
