"""``LLMMetricsService``: the original service's facade, kept call-for-call.

Every method returns plain, JSON-ready dicts (money as float, rounded to 1e-6 USD); the functions
in ``metrics_core.queries`` return the same figures with money as ``Decimal``.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from . import queries, recording
from .policy import providers as _providers
from .queries import health_summary


def jsonable(value):
    """Figures as JSON-ready values: Decimal -> float rounded to 1e-6 USD (None stays None, an unknown
    cost is never 0), datetimes -> ISO text in UTC with ``Z``; dicts and lists converted throughout."""
    if isinstance(value, Decimal):
        return float(round(value, 6))
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat() + "Z"
    return value


class LLMMetricsService:
    """The facade the original guide's code calls: ``LLMMetricsService.record_request(...)`` etc."""

    record_request = staticmethod(recording.record_request)

    @staticmethod
    def get_all_providers() -> list[dict]:
        """Every provider with health and all-time totals (keys of the original service)."""
        return [jsonable(p) for p in queries.list_providers()]

    @staticmethod
    def get_metrics(days: int = 7) -> dict:
        """Requests, success rate, tokens and response times over the last ``days`` UTC days."""
        return jsonable(queries.metrics(days))

    @staticmethod
    def get_cost_summary(days: int = 30) -> dict:
        """Spend, hypothetical spend on the reference model, savings, unpriced calls."""
        return jsonable(queries.cost_summary(days))

    @staticmethod
    def get_trends(days: int = 30) -> dict:
        """Daily rows for every day of the window, and per provider and day."""
        return jsonable(queries.trends(days))

    @staticmethod
    def set_provider_enabled(provider_id: int | str, enabled: bool) -> dict:
        """Enable or disable a provider; returns the updated provider."""
        return jsonable(_providers.set_enabled(provider_id, enabled))

    @staticmethod
    def reset_circuit(provider_id: int | str) -> dict:
        """Close a provider's circuit by hand; returns the updated provider."""
        return jsonable(_providers.reset_circuit(provider_id))

    @staticmethod
    def pick_provider(provider_type: str | None = None) -> dict | None:
        """The highest-priority enabled and available provider, or None."""
        picked = _providers.pick_provider(provider_type=provider_type)
        return None if picked is None else jsonable(picked)

    @staticmethod
    def get_health() -> dict:
        """Overall status, provider counts, open circuits, recent success rate, dropped records."""
        return jsonable(health_summary())
