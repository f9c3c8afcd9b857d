"""Usage completeness: sources that never send cached tokens are named on the Costs page, per window."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
import streamlit as st
from fastapi.testclient import TestClient
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy import select, update
from streamlit.testing.v1 import AppTest

import metrics_core
from metrics_core import clock, recording, storage
from metrics_core.http_api import api_keys
from metrics_core.http_api import app as http_api_app
from metrics_core.integrations.otel import MetricsSpanProcessor
from metrics_core.queries import Window, sources
from metrics_core.recording import usage_notes

APP = str(Path(__file__).resolve().parents[1] / "app.py")
CHAT = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o",
    "gen_ai.usage.input_tokens": 1000,
    "gen_ai.usage.output_tokens": 50,
}
OPENAI_V2 = "opentelemetry.instrumentation.openai_v2"
OVERSTATED = f"cost may be overstated: {OPENAI_V2} does not report cached tokens"


def spans(scope: str, n: int, **extra) -> list:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer(scope)
    for i in range(n):
        tracer.start_span("chat gpt-4o", kind=SpanKind.CLIENT, attributes={**CHAT, **extra, "i": i}).end()
    return list(exporter.get_finished_spans())


def processed(scope: str, n: int, **extra) -> None:
    """Emit ``n`` GenAI spans from instrumentation ``scope`` through MetricsSpanProcessor."""
    provider = TracerProvider()
    provider.add_span_processor(MetricsSpanProcessor())
    tracer = provider.get_tracer(scope)
    for i in range(n):
        tracer.start_span("chat gpt-4o", kind=SpanKind.CLIENT, attributes={**CHAT, **extra, "i": i}).end()
    assert metrics_core.flush(10)


def test_the_processor_notes_a_source_that_never_sends_cached_tokens(engine):
    processed(OPENAI_V2, 3)
    processed("com.anthropic.sdk.python", 2)  # complete: no note
    assert recording.stats()["usage_notes"] == {
        OPENAI_V2: {"missing": ["cache_read_tokens", "reasoning_tokens"], "calls": 3}
    }
    [entry] = sources.incomplete_usage(1, engine=engine)
    assert (entry["source"], entry["missing"], entry["calls"]) == (
        OPENAI_V2,
        ["cache_read_tokens", "reasoning_tokens"],
        3,
    )
    assert sources.overstatement_notes(1, engine=engine) == [OVERSTATED]


def test_notes_are_written_at_most_once_a_minute_and_summed(engine, monkeypatch):
    processed(OPENAI_V2, 1)
    processed(OPENAI_V2, 2)  # within the minute: kept in memory
    f = storage.recorder_faults
    with engine.connect() as conn:
        assert conn.execute(select(f.c.kind, f.c.count)).all() == [("usage_incomplete", 1)]
    usage_notes.report(engine.url.render_as_string(hide_password=False), force=True)
    with engine.connect() as conn:
        counts = conn.execute(select(f.c.count).order_by(f.c.id)).scalars().all()
        assert counts == [1, 2]
        assert json.loads(conn.execute(select(f.c.detail)).scalars().first()) == {
            "source": OPENAI_V2,
            "missing": ["cache_read_tokens", "reasoning_tokens"],
        }
    assert sources.incomplete_usage(1, engine=engine)[0]["calls"] == 3


def test_notes_outside_the_window_are_not_shown(engine):
    processed("litellm", 1, **{"gen_ai.framework": "litellm"})
    old = clock.utc_now() - timedelta(days=10)
    with engine.begin() as conn:
        conn.execute(update(storage.recorder_faults).values(at=old))
    assert sources.incomplete_usage(7, engine=engine) == []
    ten_days_ago = Window(old.date(), old.date())
    assert sources.overstatement_notes(window=ten_days_ago, engine=engine) == [
        "cost may be overstated: litellm does not report cached tokens"
    ]


def test_the_otlp_receiver_notes_its_sources(engine):
    token = api_keys.create_token(name="w", scope="write", engine=engine)[0]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-protobuf"}
    body = encode_spans(spans("openlit.otel.tracing", 2)).SerializeToString()
    with TestClient(http_api_app.create_app(token_cache_seconds=0)) as client:
        assert client.post("/v1/traces", content=body, headers=headers).status_code == 200
    [entry] = sources.incomplete_usage(1, engine=engine)
    assert (entry["source"], entry["missing"], entry["calls"]) == (
        "openlit",
        ["cache_read_tokens", "cache_write_tokens"],
        2,
    )


@pytest.fixture
def fresh_cache():
    st.cache_data.clear()
    yield
    st.cache_data.clear()


def test_the_costs_page_says_cost_may_be_overstated(engine, fresh_cache):
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page("pages/costs.py").run()
    assert not at.exception and not any("overstated" in w.value for w in at.warning)
    processed(OPENAI_V2, 1)
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page("pages/costs.py").run()
    assert not at.exception
    [note] = [w.value for w in at.warning if "overstated" in w.value]
    assert note.startswith(f"Cost may be overstated: {OPENAI_V2} does not report cached tokens: ")
