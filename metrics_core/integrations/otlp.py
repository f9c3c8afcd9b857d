"""Decode OTLP/HTTP trace exports (``POST /v1/traces``) into :class:`~genai_spans.SpanView` objects.

Pure functions, no server: :func:`decode_spans` takes the body and its ``Content-Type`` and
``Content-Encoding`` headers; :func:`export_response` builds the (partial-success) reply.
Bodies are ``application/x-protobuf`` or ``application/json`` (OTLP JSON: hex ids, camelCase
keys, 64-bit ints as strings), optionally gzip-compressed; both are parsed into the
``opentelemetry-proto`` ``ExportTraceServiceRequest`` message.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from metrics_core.integrations.genai_spans import SpanEvent, SpanView

__all__ = [
    "CONTENT_TYPES",
    "DecodedSpans",
    "OtlpError",
    "decode_request",
    "decode_spans",
    "export_response",
    "views_of",
]

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
CONTENT_TYPES = (PROTOBUF, JSON)
_KINDS = {0: "unspecified", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
_STATUS = {0: "unset", 1: "ok", 2: "error"}
_HEX_ID_KEYS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")


class OtlpError(ValueError):
    """A body that cannot be accepted; ``status`` is the HTTP status to answer (400, 413 or 415)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class DecodedSpans:
    """The spans of one export, and how many of them could not be read (OTLP ``rejected_spans``)."""

    spans: list[SpanView]
    skipped: int


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _inflate(body: bytes, content_encoding: str | None, max_bytes: int | None) -> bytes:
    encoding = (content_encoding or "identity").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "x-gzip"):
        raise OtlpError(415, f"Content-Encoding must be gzip or identity, not {content_encoding!r}")
    limit = max_bytes if max_bytes is not None else -1
    try:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        data = inflater.decompress(body, limit if limit > 0 else 0)
    except zlib.error as exc:
        raise OtlpError(400, f"the gzip body is corrupt: {exc}") from None
    if limit > 0 and inflater.unconsumed_tail:
        raise OtlpError(413, f"the body inflates to more than {max_bytes} bytes")
    return data


def decode_request(
    body: bytes, content_type: str | None, content_encoding: str | None = None, *, max_bytes: int | None = None
) -> Any:
    """The ``ExportTraceServiceRequest`` in ``body``; an :class:`OtlpError` when it cannot be read.

    ``max_bytes`` bounds the inflated size of a gzip body (413 past it).
    """
    from google.protobuf import json_format
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    media = _media_type(content_type)
    if media not in CONTENT_TYPES:
        raise OtlpError(415, f"Content-Type must be one of {', '.join(CONTENT_TYPES)}, not {content_type!r}")
    data = _inflate(body, content_encoding, max_bytes)
    request = ExportTraceServiceRequest()
    try:
        if media == PROTOBUF:
            request.ParseFromString(data)
        else:
            json_format.ParseDict(_ids_to_base64(json.loads(data)), request, ignore_unknown_fields=True)
    except (DecodeError, json_format.ParseError, ValueError, TypeError) as exc:
        raise OtlpError(400, f"not an OTLP trace export ({media}): {exc}") from None
    return request


def _ids_to_base64(node: Any) -> Any:
    """OTLP JSON writes trace and span ids in hex; protobuf's JSON mapping wants base64 for bytes."""
    if isinstance(node, list):
        return [_ids_to_base64(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key in _HEX_ID_KEYS and isinstance(value, str):
            try:
                value = base64.b64encode(bytes.fromhex(value)).decode()
            except ValueError:
                raise ValueError(f"{key} must be hex, got {value!r}") from None
        out[key] = _ids_to_base64(value)
    return out


def decode_spans(
    body: bytes, content_type: str | None, content_encoding: str | None = None, *, max_bytes: int | None = None
) -> DecodedSpans:
    """Every span of an OTLP/HTTP trace export as a :class:`SpanView`, and the count skipped.

    A span is skipped when it has no name or its times are missing or reversed.
    """
    spans: list[SpanView] = []
    skipped = 0
    for view in views_of(decode_request(body, content_type, content_encoding, max_bytes=max_bytes)):
        start, end = view.start_time_unix_nano, view.end_time_unix_nano
        if not view.name or not start or not end or end < start:
            skipped += 1
        else:
            spans.append(view)
    return DecodedSpans(spans=spans, skipped=skipped)


def views_of(request: Any) -> Iterator[SpanView]:
    """The spans of an ``ExportTraceServiceRequest`` (with their scope and resource)."""
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope
            for span in scope_spans.spans:
                yield SpanView(
                    name=span.name,
                    kind=_KINDS.get(span.kind, "unspecified"),
                    scope_name=scope.name,
                    scope_version=scope.version,
                    attributes=_attributes(span.attributes),
                    events=tuple(SpanEvent(e.name, _attributes(e.attributes), e.time_unix_nano) for e in span.events),
                    status_code=_STATUS.get(span.status.code, "unset"),
                    status_description=span.status.message,
                    start_time_unix_nano=span.start_time_unix_nano,
                    end_time_unix_nano=span.end_time_unix_nano,
                    resource_attributes=resource,
                )


def _attributes(key_values: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in key_values}


def _value(any_value: Any) -> Any:
    """An OTLP ``AnyValue`` as a Python value (arrays as tuples, like the SDK's attributes)."""
    which = any_value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return tuple(_value(v) for v in any_value.array_value.values)
    if which == "kvlist_value":
        return _attributes(any_value.kvlist_value.values)
    return getattr(any_value, which)


def export_response(content_type: str | None, *, rejected: int = 0, message: str = "") -> tuple[bytes, str]:
    """The body and Content-Type of the reply to an export: empty success, or partial success.

    Replies in the request's encoding (protobuf unless it was JSON).
    """
    from google.protobuf import json_format
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

    response = ExportTraceServiceResponse()
    if rejected or message:
        response.partial_success.rejected_spans = rejected
        response.partial_success.error_message = message
    if _media_type(content_type) == JSON:
        return json.dumps(json_format.MessageToDict(response)).encode(), JSON
    return response.SerializeToString(), PROTOBUF
