"""HTTP API under load: POST /api/llm/record against a real uvicorn on 127.0.0.1, bounded in time.

Baseline, measured in the same run with the same client: GET /healthz (no token, no database), the
ceiling of this client + uvicorn + FastAPI on this machine. Then single-call records and batches of
50, 16 connections in flight; then ``POST /v1/traces`` (OTLP/HTTP protobuf) with the same 50 calls as
GenAI spans (distinct response ids), as spans/s against the batch's calls/s. Three rounds of the four,
interleaved, so that a burst of load from elsewhere on a shared machine hits baseline and measurement
alike; each ratio is the rounds' median.
Every 200 is counted; at the end the rows in the database must equal the calls acknowledged
(nothing lost) and no request may have failed. SQLite always; PostgreSQL too when its binaries
are installed (tests/pg_server.py).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
CONCURRENCY = 16
ROUNDS = 3
BASELINE_SECONDS = 1.0  # per round
SINGLE_SECONDS = 1.5
BATCH_SECONDS = 1.0
BATCH = 50
CALL = {
    "provider_name": "claude",
    "model": "claude-sonnet-4-5",
    "status": "success",
    "prompt_tokens": 1200,
    "completion_tokens": 300,
    "duration_seconds": 1.8,
    "endpoint": "/v1/messages",
    "tags": {"project": "bench"},
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _otlp_bodies():
    """A function returning a new OTLP protobuf export of BATCH GenAI spans (CALL's figures) each call,
    with response ids never sent before (so the receiver's dedupe keeps them all)."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.trace.v1.trace_pb2 import Span

    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.add(key="service.name").value.string_value = "bench"
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = "bench"
    start = time.time_ns()
    ids = []
    for _ in range(BATCH):
        span = scope_spans.spans.add(trace_id=os.urandom(16), span_id=os.urandom(8), name="chat claude-sonnet-4-5")
        span.kind = Span.SPAN_KIND_CLIENT
        span.start_time_unix_nano, span.end_time_unix_nano = start, start + 1_800_000_000
        for key, value in (
            ("gen_ai.operation.name", "chat"),
            ("gen_ai.provider.name", "anthropic"),
            ("gen_ai.request.model", CALL["model"]),
            ("http.route", CALL["endpoint"]),
        ):
            span.attributes.add(key=key).value.string_value = value
        span.attributes.add(key="gen_ai.usage.input_tokens").value.int_value = CALL["prompt_tokens"]
        span.attributes.add(key="gen_ai.usage.output_tokens").value.int_value = CALL["completion_tokens"]
        ids.append(span.attributes.add(key="gen_ai.response.id").value)
    numbers = itertools.count()

    def body() -> bytes:
        n = next(numbers)
        for i, value in enumerate(ids):
            value.string_value = f"msg_bench_{n}_{i}"
        return request.SerializeToString()

    return body


async def _load(base: str, method: str, path: str, seconds: float, headers: dict, body=None, content=None) -> dict:
    """Keep CONCURRENCY requests in flight for ``seconds``; latencies of every completed request.

    ``body`` is sent as JSON; ``content``, a function, makes the raw body of each request.
    """
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    stop_at = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=30) as client:

        async def worker():
            while time.perf_counter() < stop_at:
                t0 = time.perf_counter()
                if content is None:
                    r = await client.request(method, path, json=body)
                else:
                    r = await client.request(method, path, content=content())
                latencies.append(time.perf_counter() - t0)
                statuses[r.status_code] = statuses.get(r.status_code, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - started
    return {"latencies": latencies, "elapsed": elapsed, "statuses": statuses, "rps": len(latencies) / elapsed}


def _merge(runs: list[dict]) -> dict:
    """Rounds of one kind together: requests per second over their time, latency percentiles."""
    latencies = sorted(x for r in runs for x in r["latencies"])
    n = len(latencies)
    statuses: dict[int, int] = {}
    for r in runs:
        for code, count in r["statuses"].items():
            statuses[code] = statuses.get(code, 0) + count
    return {
        "n": n,
        "rps": n / sum(r["elapsed"] for r in runs),
        "statuses": statuses,
        "p50_ms": latencies[n // 2] * 1000 if n else 0.0,
        "p99_ms": latencies[min(n - 1, int(n * 0.99))] * 1000 if n else 0.0,
    }


def _measure(url: str, label: str) -> list[str]:
    env = {**os.environ, "LLM_METRICS_DB_URL": url, "PYTHONPATH": str(ROOT)}
    from metrics_core import storage
    from metrics_core.http_api import api_keys

    engine = storage.create(url)
    from metrics_core.storage.migrations import ensure_schema

    ensure_schema(engine)
    token = api_keys.create_token(name="bench", scope="write", engine=engine)[0]
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "metrics_core", "serve", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the API server did not start: {server.stderr.read()[-2000:]}")
            time.sleep(0.1)
        auth = {"Authorization": f"Bearer {token}"}
        asyncio.run(_load(base, "GET", "/healthz", 1.0, {}))  # warm-up, not counted
        runs: dict[str, list[dict]] = {"baseline": [], "single": [], "batch": [], "otlp": []}
        otlp_auth = {**auth, "Content-Type": "application/x-protobuf"}
        otlp_body = _otlp_bodies()
        for _ in range(ROUNDS):  # interleaved, so a burst of load elsewhere hits all three alike
            runs["baseline"].append(asyncio.run(_load(base, "GET", "/healthz", BASELINE_SECONDS, {})))
            runs["single"].append(asyncio.run(_load(base, "POST", "/api/llm/record", SINGLE_SECONDS, auth, CALL)))
            runs["batch"].append(
                asyncio.run(_load(base, "POST", "/api/llm/record", BATCH_SECONDS, auth, [CALL] * BATCH))
            )
            runs["otlp"].append(
                asyncio.run(_load(base, "POST", "/v1/traces", BATCH_SECONDS, otlp_auth, content=otlp_body))
            )
    finally:
        server.terminate()
        server.wait(30)
    from sqlalchemy import func, select

    with engine.connect() as conn:
        rows = conn.execute(select(func.count()).select_from(storage.requests)).scalar_one()
        rolled = conn.execute(select(func.coalesce(func.sum(storage.costs_daily.c.requests), 0))).scalar_one()
    engine.dispose()
    base_line, single, batch, otlp = (_merge(runs[k]) for k in ("baseline", "single", "batch", "otlp"))
    ratios = sorted(s["rps"] / b["rps"] for s, b in zip(runs["single"], runs["baseline"], strict=True))
    otlp_ratios = sorted(o["rps"] / b["rps"] for o, b in zip(runs["otlp"], runs["batch"], strict=True))
    acknowledged = (
        single["statuses"].get(200, 0) + (batch["statuses"].get(200, 0) + otlp["statuses"].get(200, 0)) * BATCH
    )
    failed = sum(n for s in (single, batch, otlp) for code, n in s["statuses"].items() if code != 200)
    lost = acknowledged - rows
    ok = lost == 0 and failed == 0 and int(rolled) == rows
    lines = [
        f"[{label}] baseline GET /healthz: {base_line['rps']:.0f} req/s, p99 {base_line['p99_ms']:.1f} ms "
        f"({CONCURRENCY} connections, same client)",
        f"[{label}] POST /api/llm/record, 1 call: {single['rps']:.0f} req/s = {ratios[len(ratios) // 2]:.2f}x "
        f"baseline (median of {ROUNDS} interleaved rounds; {ratios[0]:.2f}-{ratios[-1]:.2f}), "
        f"p50 {single['p50_ms']:.1f} ms, p99 {single['p99_ms']:.1f} ms",
        f"[{label}] POST /api/llm/record, {BATCH} calls: {batch['rps']:.0f} req/s = "
        f"{batch['rps'] * BATCH:.0f} calls/s, p50 {batch['p50_ms']:.1f} ms, p99 {batch['p99_ms']:.1f} ms",
        f"[{label}] POST /v1/traces, {BATCH} GenAI spans (protobuf): {otlp['rps'] * BATCH:.0f} spans/s on one worker "
        f"= {otlp_ratios[len(otlp_ratios) // 2]:.2f}x the {BATCH}-call record batch's calls/s (median of {ROUNDS} "
        f"interleaved rounds; {otlp_ratios[0]:.2f}-{otlp_ratios[-1]:.2f}), p50 {otlp['p50_ms']:.1f} ms, "
        f"p99 {otlp['p99_ms']:.1f} ms",
        f"[{label}] nothing lost: {acknowledged} calls acknowledged, {rows} rows stored, rollup counts {int(rolled)}, "
        f"{failed} failed requests -> {'OK' if ok else 'MISMATCH'}",
    ]
    if lost or failed or int(rolled) != rows:
        raise AssertionError("\n".join(lines))
    return lines


def run() -> list[str]:
    lines: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        lines += _measure(f"sqlite:///{Path(tmp) / 'metrics.db'}", "sqlite")
    sys.path.insert(0, str(ROOT / "tests"))
    try:
        from pg_server import PgBinariesMissing, start_postgres
    except ImportError:
        return lines
    try:
        url, stop = start_postgres()
    except PgBinariesMissing as exc:
        return [*lines, f"[postgresql] skipped: {exc}"]
    try:
        lines += _measure(url, "postgresql")
    finally:
        stop()
    return lines
