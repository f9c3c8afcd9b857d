"""HTTP API under load: POST /api/llm/record against a real uvicorn on 127.0.0.1, bounded in time.

Baseline, measured in the same run with the same client: GET /healthz (no token, no database), the
ceiling of this client + uvicorn + FastAPI on this machine. Then single-call records and batches of
50, 16 connections in flight. Three rounds of the three, interleaved, so that a burst of load from
elsewhere on a shared machine hits baseline and measurement alike; the ratio is the rounds' median.
Every 200 is counted; at the end the rows in the database must equal the calls acknowledged
(nothing lost) and no request may have failed. SQLite always; PostgreSQL too when its binaries
are installed (tests/pg_server.py).
"""

from __future__ import annotations

import asyncio
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


async def _load(base: str, method: str, path: str, seconds: float, headers: dict, body=None) -> dict:
    """Keep CONCURRENCY requests in flight for ``seconds``; latencies of every completed request."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    stop_at = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=30) as client:

        async def worker():
            while time.perf_counter() < stop_at:
                t0 = time.perf_counter()
                r = await client.request(method, path, json=body)
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
        runs: dict[str, list[dict]] = {"baseline": [], "single": [], "batch": []}
        for _ in range(ROUNDS):  # interleaved, so a burst of load elsewhere hits all three alike
            runs["baseline"].append(asyncio.run(_load(base, "GET", "/healthz", BASELINE_SECONDS, {})))
            runs["single"].append(asyncio.run(_load(base, "POST", "/api/llm/record", SINGLE_SECONDS, auth, CALL)))
            runs["batch"].append(
                asyncio.run(_load(base, "POST", "/api/llm/record", BATCH_SECONDS, auth, [CALL] * BATCH))
            )
    finally:
        server.terminate()
        server.wait(30)
    from sqlalchemy import func, select

    with engine.connect() as conn:
        rows = conn.execute(select(func.count()).select_from(storage.requests)).scalar_one()
        rolled = conn.execute(select(func.coalesce(func.sum(storage.costs_daily.c.requests), 0))).scalar_one()
    engine.dispose()
    base_line, single, batch = (_merge(runs[k]) for k in ("baseline", "single", "batch"))
    ratios = sorted(s["rps"] / b["rps"] for s, b in zip(runs["single"], runs["baseline"], strict=True))
    acknowledged = single["statuses"].get(200, 0) + batch["statuses"].get(200, 0) * BATCH
    failed = sum(n for s in (single, batch) for code, n in s["statuses"].items() if code != 200)
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
