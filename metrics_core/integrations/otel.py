"""Turn OpenTelemetry GenAI spans into records: ``provider.add_span_processor(MetricsSpanProcessor())``.

The mapping is :func:`metrics_core.integrations.genai_spans.map_span` (shared with the OTLP
receiver); this module only copies an SDK span into a :class:`~genai_spans.SpanView`.
One provider response is one call: a span that ends inside an ``instrument()``-ed call is left
to ``instrument()`` (which reads the SDK's full usage), and a span whose response id
(``gen_ai.response.id``) was already recorded in this process is dropped (``recording.dedupe``).
"""

from __future__ import annotations

import logging
from typing import Any

from metrics_core.integrations import _common
from metrics_core.integrations.genai_spans import SpanEvent, SpanRecord, SpanView, map_span, never_reported
from metrics_core.recording import dedupe, usage_notes

try:  # the SDK is optional: without it the class still works by duck typing
    from opentelemetry.sdk.trace import SpanProcessor as _Base
except ImportError:  # pragma: no cover - exercised only without opentelemetry-sdk
    _Base = object  # type: ignore[assignment,misc]

__all__ = ["MetricsSpanProcessor", "record_mapped", "span_to_record", "view_of"]

log = logging.getLogger("metrics_core.integrations")


class MetricsSpanProcessor(_Base):
    """A span processor whose ``on_end`` records each finished GenAI inference span."""

    def __init__(self, *, tags: dict[str, str] | None = None) -> None:
        self.tags = dict(tags) if tags else None

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        """Nothing to do when a span starts."""

    def on_end(self, span: Any) -> None:
        """Record ``span`` if it is a GenAI inference span; never raises."""
        try:
            mapped = span_to_record(span, tags=self.tags)
            if mapped is None:
                return
            if _common.active_call() is not None:
                dedupe.count_duplicate()  # instrument() records this call, from the SDK's full usage
                return
            record_mapped(mapped)
        except Exception:
            log.exception("could not record span %r", getattr(span, "name", span))

    def shutdown(self) -> None:
        """Nothing to release."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Records are written as spans end, so there is nothing to flush."""
        return True


def record_mapped(mapped: SpanRecord) -> None:
    """Record a mapped span with its response id (a response already recorded is dropped), and note
    the usage fields its source never sends (``recording.usage_notes``)."""
    kwargs = mapped.arguments()
    response_id = kwargs["response_id"]
    if response_id is None or not dedupe.seen(kwargs["provider_name"], response_id):
        usage_notes.note(mapped.source, never_reported(mapped.source))  # first: the write after it reports it
    _common.record(**kwargs)


def span_to_record(span: Any, *, tags: dict[str, str] | None = None) -> SpanRecord | None:
    """The mapped record of a finished SDK span, or None if it is no inference span."""
    return map_span(view_of(span), tags=tags)


def view_of(span: Any) -> SpanView:
    """A :class:`SpanView` of an ``opentelemetry.sdk`` ``ReadableSpan``."""
    scope = getattr(span, "instrumentation_scope", None)
    status = getattr(span, "status", None)
    resource = getattr(span, "resource", None)
    kind = getattr(getattr(span, "kind", None), "name", "INTERNAL")
    return SpanView(
        name=str(span.name),
        kind=kind.lower(),
        scope_name=getattr(scope, "name", "") or "",
        scope_version=getattr(scope, "version", "") or "",
        attributes=dict(span.attributes or {}),
        events=tuple(
            SpanEvent(e.name, dict(e.attributes or {}), getattr(e, "timestamp", 0) or 0)
            for e in getattr(span, "events", None) or ()
        ),
        status_code=getattr(getattr(status, "status_code", None), "name", "UNSET").lower(),
        status_description=getattr(status, "description", None) or "",
        start_time_unix_nano=span.start_time or 0,
        end_time_unix_nano=span.end_time or 0,
        resource_attributes=dict(getattr(resource, "attributes", None) or {}),
    )
