"""The overall health figure (``get_health()``): status, providers, recent success, recorder faults."""

from __future__ import annotations

from ..recording.writer import stats as writer_stats
from .freshness import dropped_records, recent_success_rate
from .providers import list_providers


def health_summary(engine=None) -> dict:
    """Overall status: ``down`` when no enabled provider is available, ``degraded`` when a circuit
    is not closed, a record was dropped in this process, or the last hour's success rate is under 90%,
    else ``healthy``."""
    providers = list_providers(engine)
    enabled = [p for p in providers if p["enabled"]]
    available = [p for p in enabled if p["is_available"]]
    open_circuits = [p["name"] for p in providers if p["circuit_state"] == "open"]
    half_open = [p["name"] for p in providers if p["circuit_state"] == "half_open"]
    calls, rate = recent_success_rate(60, engine)
    stats = writer_stats()
    dropped = dropped_records(engine) + stats["unreported_drops"]
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
