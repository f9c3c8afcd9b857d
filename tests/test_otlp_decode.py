"""OTLP/HTTP trace export bodies -> span views -> records (protobuf from the real exporter, and OTLP JSON)."""

from __future__ import annotations

import gzip
import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from metrics_core.integrations.genai_spans import map_span
from metrics_core.integrations.otel import view_of
from metrics_core.integrations.otlp import OtlpError, decode_spans, export_response

pytestmark = pytest.mark.sqlite_only

T0 = 1_757_947_531_250_000_000
CHAT = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "anthropic",
    "gen_ai.request.model": "claude-sonnet-4-6",
    "gen_ai.response.id": "msg_01XFDUDYJgAACzvnptvVoYEL",
    "gen_ai.usage.input_tokens": 2585,
    "gen_ai.usage.output_tokens": 15,
    "gen_ai.usage.cache_read.input_tokens": 2048,
    "gen_ai.usage.cache_write.input_tokens": 512,
    "gen_ai.response.finish_reasons": ("end_turn",),
}


def sdk_spans():
    """Three finished SDK spans: a GenAI chat, a failed GenAI chat with an exception, an HTTP span."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "checkout"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("com.anthropic.sdk.python", "2.14.0")
    span = tracer.start_span("anthropic.messages.create", kind=SpanKind.CLIENT, attributes=CHAT, start_time=T0)
    span.end(end_time=T0 + 1_500_000_000)
    failed = tracer.start_span("chat gpt-4o", kind=SpanKind.CLIENT, start_time=T0)
    failed.record_exception(TimeoutError("timed out"), timestamp=T0 + 10)
    failed.set_status(Status(StatusCode.ERROR, "timed out"))
    failed.end(end_time=T0 + 30_000_000_000)
    other = tracer.start_span("GET /health", start_time=T0)
    other.end(end_time=T0 + 1000)
    return exporter.get_finished_spans()


def test_protobuf_from_the_real_encoder_decodes_like_the_sdk_span():
    spans = sdk_spans()
    body = encode_spans(spans).SerializeToString()
    decoded = decode_spans(body, "application/x-protobuf")
    assert decoded.skipped == 0 and len(decoded.spans) == 3
    chat, failed, other = decoded.spans
    assert chat == view_of(spans[0])  # same view whether it came through the processor or OTLP
    assert (chat.scope_name, chat.scope_version, chat.kind) == ("com.anthropic.sdk.python", "2.14.0", "client")
    assert chat.resource_attributes["service.name"] == "checkout"
    assert chat.attributes["gen_ai.response.finish_reasons"] == ("end_turn",)
    mapped = map_span(chat)
    assert mapped.response_id == "msg_01XFDUDYJgAACzvnptvVoYEL" and mapped.usage_known
    assert mapped.record["prompt_tokens"] == 2585 and mapped.record["cache_write_tokens"] == 512
    assert mapped.record["timestamp"] == datetime(2025, 9, 15, 14, 45, 31, 250000, tzinfo=UTC)
    assert (failed.status_code, failed.status_description, failed.events[0].name) == ("error", "timed out", "exception")
    assert map_span(failed).record["status"] == "timeout"
    assert map_span(other) is None


def test_gzip_protobuf_and_content_type_parameters():
    body = gzip.compress(encode_spans(sdk_spans()).SerializeToString())
    decoded = decode_spans(body, "application/x-protobuf; charset=binary", "gzip")
    assert [s.name for s in decoded.spans] == ["anthropic.messages.create", "chat gpt-4o", "GET /health"]


def json_body(**overrides):
    span = {
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": "eee19b7ec3c1b174",
        "parentSpanId": "eee19b7ec3c1b173",
        "name": "chat gpt-4o",
        "kind": 3,
        "startTimeUnixNano": str(T0),
        "endTimeUnixNano": str(T0 + 2_000_000_000),
        "attributes": [
            {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
            {"key": "gen_ai.provider.name", "value": {"stringValue": "openai"}},
            {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}},
            {"key": "gen_ai.response.id", "value": {"stringValue": "chatcmpl-9"}},
            {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "1320"}},
            {"key": "gen_ai.usage.output_tokens", "value": {"intValue": 210}},
            {"key": "gen_ai.usage.cache_read.input_tokens", "value": {"intValue": "1152"}},
            {"key": "gen_ai.response.time_to_first_chunk", "value": {"doubleValue": 0.42}},
            {"key": "gen_ai.response.finish_reasons", "value": {"arrayValue": {"values": [{"stringValue": "stop"}]}}},
            {"key": "gen_ai.request.stream", "value": {"boolValue": True}},
        ],
        "events": [],
        "status": {"code": 1},
        **overrides,
    }
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "node-api"}}]},
                "scopeSpans": [{"scope": {"name": "my-node-app", "version": "1.0.0"}, "spans": [span]}],
            }
        ]
    }


def test_otlp_json_body():
    decoded = decode_spans(json.dumps(json_body()).encode(), "application/json")
    [view] = decoded.spans
    assert view.resource_attributes == {"service.name": "node-api"}
    assert (view.kind, view.status_code, view.scope_name) == ("client", "ok", "my-node-app")
    mapped = map_span(view)
    assert mapped.response_id == "chatcmpl-9" and mapped.source == "my-node-app"
    assert mapped.record == {
        "provider_name": "openai",
        "model": "gpt-4o",
        "status": "success",
        "error_message": None,
        "duration_seconds": 2.0,
        "timestamp": datetime(2025, 9, 15, 14, 45, 31, 250000, tzinfo=UTC),
        "tags": None,
        "prompt_tokens": 1320,
        "completion_tokens": 210,
        "cache_read_tokens": 1152,
        "cache_write_tokens": 0,
        "reasoning_tokens": 0,
        "time_to_first_token_seconds": 0.42,
        "endpoint": None,
    }


def test_json_span_with_reversed_times_is_skipped():
    body = json_body(endTimeUnixNano=str(T0 - 1))
    decoded = decode_spans(gzip.compress(json.dumps(body).encode()), "application/json", "gzip")
    assert (decoded.spans, decoded.skipped) == ([], 1)


@pytest.mark.parametrize(
    ("body", "content_type", "encoding", "status"),
    [
        (b"{}", "text/plain", None, 415),
        (b"{}", None, None, 415),
        (b"{}", "application/json", "br", 415),
        (b"not json", "application/json", None, 400),
        (json.dumps(json_body(traceId="zz")).encode(), "application/json", None, 400),
        (b"\xff\xff\xff", "application/x-protobuf", None, 400),
        (b"not gzip", "application/x-protobuf", "gzip", 400),
        (gzip.compress(b"\0" * 5000, mtime=0), "application/x-protobuf", "gzip", 413),
    ],
)
def test_unreadable_bodies(body, content_type, encoding, status):
    with pytest.raises(OtlpError) as err:
        decode_spans(body, content_type, encoding, max_bytes=4096)
    assert err.value.status == status


def test_export_responses():
    assert export_response("application/json") == (b"{}", "application/json")
    body, media = export_response("application/json", rejected=2, message="2 spans had no times")
    assert json.loads(body) == {"partialSuccess": {"rejectedSpans": "2", "errorMessage": "2 spans had no times"}}
    body, media = export_response("application/x-protobuf", rejected=1, message="m")
    parsed = ExportTraceServiceResponse.FromString(body)
    assert media == "application/x-protobuf" and parsed.partial_success.rejected_spans == 1


class Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.received.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        reply, media = export_response(self.headers["Content-Type"])
        self.send_response(200)
        self.send_header("Content-Type", media)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


def test_what_the_real_otlp_http_exporter_sends(monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Bearer lm_w_test")  # as users configure it
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Receiver.received = []
    try:
        exporter = OTLPSpanExporter(
            endpoint=f"http://127.0.0.1:{server.server_port}/v1/traces",
            compression=Compression.Gzip,
        )
        exporter.export(sdk_spans())
        exporter.shutdown()
    finally:
        server.shutdown()
        server.server_close()
    [(path, headers, body)] = Receiver.received
    assert path == "/v1/traces" and headers["authorization"] == "Bearer lm_w_test"
    assert (headers["content-type"], headers["content-encoding"]) == ("application/x-protobuf", "gzip")
    decoded = decode_spans(body, headers["content-type"], headers["content-encoding"])
    records = [m for m in map(map_span, decoded.spans) if m is not None]
    assert [(m.record["model"], m.record["status"]) for m in records] == [
        ("claude-sonnet-4-6", "success"),
        ("gpt-4o", "timeout"),
    ]
