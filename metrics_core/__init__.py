"""llm-metrics: record every LLM call, price it correctly, and see health, spend and savings.

The public API; everything not listed in ``__all__`` is an implementation detail.
"""

from .budgets import check_budget
from .errors import BudgetExceeded, DatabaseUnavailable, MetricsError, ProviderNotFound, SchemaTooNew
from .providers import pick_provider, reset_circuit
from .queries import Window
from .recorder import STATUSES, flush, record_request
from .service import LLMMetricsService
from .tracking import Call, current_call, track

__all__ = [
    "STATUSES",
    "BudgetExceeded",
    "Call",
    "DatabaseUnavailable",
    "LLMMetricsService",
    "MetricsError",
    "ProviderNotFound",
    "SchemaTooNew",
    "Window",
    "check_budget",
    "current_call",
    "flush",
    "pick_provider",
    "record_request",
    "reset_circuit",
    "track",
]
__version__ = "0.1.0"
