"""``LLMMetricsService``: the original service's facade, kept call-for-call.

Every method returns plain, JSON-ready dicts (money as float, rounded to 1e-6 USD); the functions
in ``metrics_core.queries`` return the same figures with money as ``Decimal``.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from . import providers as _providers
from . import queries
from . import recorder as _recorder


def _jsonable(value):
    if isinstance(value, Decimal):
        return float(round(value, 6))
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat() + "Z"
    return value


def health_summary(engine=None) -> dict:
    """Overall status: ``down`` when no enabled provider is available, ``degraded`` when a circuit
    is not closed, a record was dropped in this process, or the last hour's success rate is under 90%,
    else ``healthy``."""
    providers = _providers.list_providers(engine)
    enabled = [p for p in providers if p["enabled"]]
    available = [p for p in enabled if p["is_available"]]
    open_circuits = [p["name"] for p in providers if p["circuit_state"] == "open"]
    half_open = [p["name"] for p in providers if p["circuit_state"] == "half_open"]
    calls, rate = queries.recent_success_rate(60, engine)
    stats = _recorder.stats()
    dropped = queries.dropped_records(engine) + _pending_drops()
    if not available:
        status = "down"
    elif open_circuits or half_open or (rate is not None and rate < 90) or dropped:
        status = "degraded"
    else:
        status = "healthy"
    return {
        "status": status,
        "providers_total": len(providers),
        "providers_enabled": len(enabled),
        "providers_available": len(available),
        "open_circuits": open_circuits,
        "half_open_circuits": half_open,
        "recent_requests": calls,
        "recent_success_rate": rate,
        "dropped_records": dropped,
        "queued_records": stats["queued"],
        "write_errors": stats["write_errors"],
        "last_write_error": stats["last_error"],
    }


def _pending_drops() -> int:
    writer = _recorder._writer
    return writer.dropped_unreported if writer is not None else 0


class LLMMetricsService:
    """The facade the original guide's code calls: ``LLMMetricsService.record_request(...)`` etc."""

    record_request = staticmethod(_recorder.record_request)

    @staticmethod
    def get_all_providers() -> list[dict]:
        """Every provider with health and all-time totals (keys of the original service)."""
        return [_jsonable(p) for p in _providers.list_providers()]

    @staticmethod
    def get_metrics(days: int = 7) -> dict:
        """Requests, success rate, tokens and response times over the last ``days`` UTC days."""
        return _jsonable(queries.metrics(days))

    @staticmethod
    def get_cost_summary(days: int = 30) -> dict:
        """Spend, hypothetical spend on the reference model, savings, unpriced calls."""
        return _jsonable(queries.cost_summary(days))

    @staticmethod
    def get_trends(days: int = 30) -> dict:
        """Daily rows for every day of the window, and per provider and day."""
        return _jsonable(queries.trends(days))

    @staticmethod
    def set_provider_enabled(provider_id: int | str, enabled: bool) -> dict:
        """Enable or disable a provider; returns the updated provider."""
        return _jsonable(_providers.set_enabled(provider_id, enabled))

    @staticmethod
    def reset_circuit(provider_id: int | str) -> dict:
        """Close a provider's circuit by hand; returns the updated provider."""
        return _jsonable(_providers.reset_circuit(provider_id))

    @staticmethod
    def pick_provider(provider_type: str | None = None) -> dict | None:
        """The highest-priority enabled and available provider, or None."""
        picked = _providers.pick_provider(provider_type=provider_type)
        return None if picked is None else _jsonable(picked)

    @staticmethod
    def get_health() -> dict:
        """Overall status, provider counts, open circuits, recent success rate, dropped records."""
        return _jsonable(health_summary())
