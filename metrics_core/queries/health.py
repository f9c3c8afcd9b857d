"""The overall health figure (``get_health()``): status with its reasons, providers, recent success,
recorder faults and the records this process could not write yet."""

from __future__ import annotations

from .. import storage
from ..config import settings
from ..recording.spill import spilled_count
from ..recording.writer import stats as writer_stats
from .freshness import dropped_records, recent_success_rate
from .providers import list_providers


def health_summary(engine=None) -> dict:
    """Overall status: ``down`` when no enabled provider is available; ``degraded`` when a circuit is
    not closed, records were dropped or lost (stored, spilled or not yet reported), records are
    queued while writes fail, or the last hour's success rate is under 90%; else ``healthy``.
    ``reasons`` says why in words; ``stale`` is True when records made in this process are still
    queued, so the figures may miss them (``pending_records`` of them)."""
    providers = list_providers(engine)
    enabled = [p for p in providers if p["enabled"]]
    available = [p for p in enabled if p["is_available"]]
    open_circuits = [p["name"] for p in providers if p["circuit_state"] == "open"]
    half_open = [p["name"] for p in providers if p["circuit_state"] == "half_open"]
    calls, rate = recent_success_rate(60, engine)
    stats = writer_stats()
    url = engine.url.render_as_string(hide_password=False) if engine is not None else settings().db_url
    dropped = dropped_records(engine) + stats["unreported_drops"] + spilled_count(url)
    reasons = []
    if not available:
        reasons.append("no enabled provider is available")
    if open_circuits or half_open:
        reasons.append(f"circuits not closed: {', '.join(open_circuits + half_open)}")
    if rate is not None and rate < 90:
        reasons.append(f"the last hour's success rate is {rate:g}%")
    if dropped:
        reasons.append(f"{dropped} record(s) were dropped or lost by the recorder")
    if stats["failing"]:
        reasons.append(
            f"{stats['queued']} record(s) are queued and cannot be written to {storage.db_label(url)}: "
            f"{stats['last_error'] or 'a write is waiting for the database (locked, or not answering)'}"
        )
    status = "down" if not available else "degraded" if reasons else "healthy"
    return {
        "status": status,
        "reasons": reasons,
        "providers_total": len(providers),
        "providers_enabled": len(enabled),
        "providers_available": len(available),
        "open_circuits": open_circuits,
        "half_open_circuits": half_open,
        "recent_requests": calls,
        "recent_success_rate": rate,
        "dropped_records": dropped,
        "queued_records": stats["queued"],
        "pending_records": stats["queued"],
        "stale": stats["queued"] > 0,
        "write_errors": stats["write_errors"],
        "last_write_error": stats["last_error"],
    }
