"""Storage: the schema, engines, migrations, rollups and latency buckets.

The only layer that knows table shapes and write SQL. Other layers use it as
``from metrics_core import storage`` (``storage.requests``, ``storage.get_engine()``).
"""

from .engines import create, db_label, dispose_all, get_engine, is_sqlite, require_sqlite_folder
from .schema import (
    BILLING_PROVIDERS,
    DAILY_MEASURES,
    DEFAULT_PROVIDERS,
    Money,
    alert_history,
    api_tokens,
    billed_daily,
    billed_days,
    budget_holds,
    budgets,
    circuit_events,
    costs_daily,
    latency_daily,
    metadata,
    price_data,
    price_overrides,
    provider_health,
    providers,
    recorder_faults,
    requests,
    tag_costs_daily,
)

__all__ = [
    "BILLING_PROVIDERS",
    "DAILY_MEASURES",
    "DEFAULT_PROVIDERS",
    "Money",
    "alert_history",
    "api_tokens",
    "billed_daily",
    "billed_days",
    "budget_holds",
    "budgets",
    "circuit_events",
    "costs_daily",
    "create",
    "db_label",
    "dispose_all",
    "get_engine",
    "is_sqlite",
    "latency_daily",
    "metadata",
    "price_data",
    "price_overrides",
    "provider_health",
    "providers",
    "recorder_faults",
    "requests",
    "require_sqlite_folder",
    "tag_costs_daily",
]
