"""``POST /v1/traces``: an OTLP/HTTP trace receiver; GenAI client spans become calls.

Any OpenTelemetry SDK (Node, Go, Java, Python ...) can export to ``llm-metrics serve`` with
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://host:8000/v1/traces`` and
``OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer <write token>``. Bodies are
``application/x-protobuf`` or ``application/json``, plain or gzip. Spans are mapped by
``integrations.genai_spans.map_span`` (as ``MetricsSpanProcessor`` does); spans that are no
model call are acknowledged and ignored; spans that cannot be read or recorded are counted in
the OTLP partial-success reply (``rejected_spans``, ``error_message``). Errors are a
``google.rpc.Status`` in the request's encoding, as the OTLP specification asks.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from ..errors import DatabaseUnavailable
from ..integrations import genai_spans
from ..integrations import otlp as otlp_decode
from ..recording import record as recording_record
from ..recording import usage_notes
from . import deps, routes_record

PATH = "/v1/traces"
INFLATE_FACTOR = 16  # a gzip body may inflate to this many times the body limit
MAX_MESSAGES = 5  # distinct reasons quoted in a partial-success error_message

router = APIRouter()


def _media(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _status_body(json_encoded: bool, status: int, message: str) -> tuple[bytes, str]:
    from google.protobuf import json_format
    from google.rpc.status_pb2 import Status

    reply = Status(code=status, message=message)
    if json_encoded:
        return json.dumps(json_format.MessageToDict(reply)).encode(), otlp_decode.JSON
    return reply.SerializeToString(), otlp_decode.PROTOBUF


def error_response(scope_or_request, status: int, message: str, headers: dict | None = None) -> Response:
    """An OTLP error reply: a ``google.rpc.Status`` in the request's encoding (protobuf unless JSON)."""
    raw = dict(scope_or_request.get("headers", ())) if isinstance(scope_or_request, dict) else None
    if raw is not None:
        content_type = raw.get(b"content-type", b"").decode("latin-1")
    else:
        content_type = scope_or_request.headers.get("content-type")
    body, media_type = _status_body(_media(content_type) == otlp_decode.JSON, status, message)
    return Response(body, status, headers=headers, media_type=media_type)


@router.post(PATH, include_in_schema=False)
async def export_traces(request: Request) -> Response:
    """Record the GenAI client spans of one OTLP trace export."""
    content_type = request.headers.get("content-type")
    try:
        await deps.authorize(request, await deps.bearer(request), "write")
        body = await request.body()  # the body limit raises 413 while it streams in
    except HTTPException as exc:
        return error_response(request, exc.status_code, str(exc.detail), exc.headers)
    limit = request.app.state.max_body_bytes * INFLATE_FACTOR
    try:
        decoded = otlp_decode.decode_spans(body, content_type, request.headers.get("content-encoding"), max_bytes=limit)
    except otlp_decode.OtlpError as exc:
        return error_response(request, exc.status, str(exc))
    items: list[tuple] = []
    marks: list[tuple[str, str]] = []
    sources: list[str] = []
    reasons: dict[str, None] = {}
    if decoded.skipped:
        reasons["a span has no name, or no or reversed start and end times"] = None
    rejected = decoded.skipped
    for view in decoded.spans:
        mapped = genai_spans.map_span(view)
        if mapped is None:
            continue  # not a model call: acknowledged and ignored
        before = len(items)
        try:
            recording_record.record_request(**mapped.arguments(), _into=items, _marks=marks)
        except ValueError as exc:
            rejected += 1
            reasons[f"span {view.name!r}: {exc}"[:300]] = None
            continue
        if len(items) > before:
            sources.append(mapped.source)
    for source in sources:  # before the write, whose after-write hook stores the notes
        usage_notes.note(source, genai_spans.never_reported(source))
    if items:
        try:
            await routes_record.commit(request, items, marks)
        except (DatabaseUnavailable, OperationalError, PoolTimeout) as exc:
            message = f"the metrics database is unavailable: {exc.__class__.__name__}"
            return error_response(request, 503, message, {"Retry-After": "5"})
    message = "; ".join(list(reasons)[:MAX_MESSAGES])
    reply, media_type = otlp_decode.export_response(content_type, rejected=rejected, message=message)
    return Response(reply, 200, media_type=media_type)
