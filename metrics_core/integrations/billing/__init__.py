"""Pull what OpenAI and Anthropic billed, per UTC day and model, from their admin report APIs.

``openai.pull(start=, end=)`` and ``anthropic.pull(start=, end=)`` return a ``BillingPull`` of
complete days or raise a ``BillingError``; ``recorded_model_name`` maps a billed (dated) model
name to the recorded one. Only ``metrics_core.errors`` and httpx are imported.
"""

from metrics_core.integrations.billing.errors import (
    AdminKeyRejected,
    BillingError,
    BillingUnavailable,
    IncompletePull,
    MissingAdminKey,
)
from metrics_core.integrations.billing.fetch import AdminKey
from metrics_core.integrations.billing.records import (
    PROVIDERS,
    BilledUsage,
    BillingPull,
    UnattributedCost,
    recorded_model_name,
    strip_date,
)

__all__ = [
    "PROVIDERS",
    "AdminKey",
    "AdminKeyRejected",
    "BilledUsage",
    "BillingError",
    "BillingPull",
    "BillingUnavailable",
    "IncompletePull",
    "MissingAdminKey",
    "UnattributedCost",
    "recorded_model_name",
    "strip_date",
]
