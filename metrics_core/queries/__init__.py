"""Queries: every figure, defined once, read-only.

One module per family of figures: ``usage``, ``costs``, ``latency``, ``availability``,
``request_log``, ``providers``, ``choices`` (filter choices), ``freshness``, ``error_stats``,
``health``. Totals come from the daily rollups, never from raw rows; only the request log and the
error lists page through raw rows. The dashboard, notebooks, reports, the API, the CLI and the facade
call these functions and compute no figure themselves. ``metrics_core.queries.X`` keeps working for
every name below.
"""

from .availability import availability, daily_availability, outages
from .choices import model_names, tag_values
from .common import Comparison, Window, as_date, comparison, floats, read_engine, unwritten_records, window_of
from .costs import cost_frame, cost_summary, local_share, tag_costs
from .error_stats import error_classes, recent_error_rates, top_errors
from .freshness import data_version, dropped_records, has_calls, recent_success_rate
from .health import health_summary
from .latency import PERCENTILES, latency_breakdown, latency_frame, latency_percentiles
from .providers import circuit_events, effective_state, get_provider, list_providers
from .request_log import LOG_COLUMNS, request_count, request_log
from .usage import daily_frame, daily_series, metrics, trends, usage_frame

__all__ = [
    "LOG_COLUMNS",
    "PERCENTILES",
    "Comparison",
    "Window",
    "as_date",
    "availability",
    "circuit_events",
    "comparison",
    "cost_frame",
    "cost_summary",
    "daily_availability",
    "daily_frame",
    "daily_series",
    "data_version",
    "dropped_records",
    "effective_state",
    "error_classes",
    "floats",
    "get_provider",
    "has_calls",
    "health_summary",
    "latency_breakdown",
    "latency_frame",
    "latency_percentiles",
    "list_providers",
    "local_share",
    "metrics",
    "model_names",
    "outages",
    "read_engine",
    "recent_error_rates",
    "recent_success_rate",
    "request_count",
    "request_log",
    "tag_costs",
    "tag_values",
    "top_errors",
    "trends",
    "unwritten_records",
    "usage_frame",
    "window_of",
]
