"""llm-metrics: record every LLM call, price it correctly, and see health, spend and savings.

The public API; everything not listed in ``__all__`` is an implementation detail.

Layers, each importing only those below it (``make lint`` checks it with import-linter):
``errors, config, clock, money, formatting`` -> ``pricing`` -> ``storage`` -> ``recording`` ->
``queries`` -> ``policy`` -> ``reports``, ``service`` -> ``integrations``, ``http_api``, ``cli``
(and, outside the package, the dashboard and notebooks).
"""

__version__ = "0.1.0"

from .errors import BudgetExceeded, DatabaseUnavailable, MetricsError, ProviderNotFound, SchemaTooNew
from .policy.alert_delivery import after_write as _alerts_after_write
from .policy.enforcement import check_budget
from .policy.providers import pick_provider, reset_circuit
from .policy.reservations import Reservation, reserve
from .queries import Window
from .recording import STATUSES, Call, add_after_write_hook, current_call, flush, record_request, track
from .service import LLMMetricsService

# The writer is handed what to run after each stored batch; recording never imports alerts.
add_after_write_hook(_alerts_after_write)

__all__ = [
    "STATUSES",
    "BudgetExceeded",
    "Call",
    "DatabaseUnavailable",
    "LLMMetricsService",
    "MetricsError",
    "ProviderNotFound",
    "Reservation",
    "SchemaTooNew",
    "Window",
    "check_budget",
    "current_call",
    "flush",
    "pick_provider",
    "record_request",
    "reserve",
    "reset_circuit",
    "track",
]
