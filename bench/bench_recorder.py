"""The recorder: caller overhead, writer throughput, several processes, fork children, queue memory.

Every figure is printed beside a baseline measured in the same run (these machines are noisy):
(a) ``record_request`` per call vs a no-op function called the same way; (b) the writer's rows/s
(raw rows + rollups + circuit breakers, one transaction per batch) vs stdlib ``sqlite3``
``executemany`` of the same rows in one transaction; (c) four processes for 10 s into one SQLite
file; (d) multiprocessing fork children (Process, Pool); (e) memory of a full queue vs the bound
documented in ``recording.QUEUED_RECORD_BYTES``.
"""

from __future__ import annotations

import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from metrics_core.recording import batch

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
ERROR_MARGIN = 4096


def _percentile(sorted_values: list[int], p: float) -> int:
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * p / 100))]


def _noop(*, provider_name, model, status, prompt_tokens, completion_tokens, duration_seconds):
    return None


def caller_overhead(workdir: Path, n: int = 100_000) -> list[str]:
    """(a) Each call timed with perf_counter_ns, the writer running as it would (queue big enough)."""
    os.environ.update(
        {"LLM_METRICS_DB_URL": f"sqlite:///{workdir / 'caller.db'}", "LLM_METRICS_QUEUE_SIZE": str(2 * n)}
    )
    from metrics_core import recording, storage

    recording.reset(flush_first=False)
    storage.get_engine()  # schema made before timing
    record = recording.record_request
    clock = time.perf_counter_ns
    results = {}
    for label, func in (("noop", _noop), ("record_request", record)):
        func(
            provider_name="claude",
            model="claude-sonnet-4-5",
            status="success",
            prompt_tokens=1200,
            completion_tokens=300,
            duration_seconds=0.8,
        )
        times = [0] * n
        for i in range(n):
            t = clock()
            func(
                provider_name="claude",
                model="claude-sonnet-4-5",
                status="success",
                prompt_tokens=1200,
                completion_tokens=300,
                duration_seconds=0.8,
            )
            times[i] = clock() - t
        times.sort()
        results[label] = (statistics.median(times), _percentile(times, 99))
    dropped = recording.stats()["dropped"]
    recording.flush(120)
    recording.reset()
    (med, p99), (nmed, np99) = results["record_request"], results["noop"]
    return [
        f"(a) caller overhead over {n:,} buffered calls (validation included): median {med / 1000:.2f} µs, "
        f"p99 {p99 / 1000:.2f} µs; a no-op call timed the same way: median {nmed / 1000:.2f} µs, "
        f"p99 {np99 / 1000:.2f} µs -> {med / nmed:.1f}x / {p99 / np99:.1f}x the no-op "
        f"(targets: median < 10 µs, p99 < 100 µs; dropped {dropped})",
    ]


def _items(n: int, tags: bool, details: bool = False) -> list[tuple]:
    import random

    rnd = random.Random(1)
    now = time.time()
    models = [
        ("claude", "claude-sonnet-4-5"),
        ("claude", "claude-haiku-4-5"),
        ("openai", "gpt-4o-mini"),
        ("ollama", "llama3"),
    ]
    items = []
    for i in range(n):
        name, model = models[i % 4]
        items.append(
            (
                name,
                model,
                "success" if i % 20 else "failed",
                "/v1/messages",
                rnd.randint(10, 5000),
                rnd.randint(1, 800),
                0,
                0,
                0,
                rnd.random() * 3,
                None,
                None,
                {"project": f"p{i % 5}", "user": f"u{i % 7}"} if tags else None,
                None,
                now + i * 1e-4,
                ("priority" if i % 3 else None) if details else None,
                {"web_searches": i % 3 + 1, "input_audio_tokens": 5} if details else None,
                True,
            )
        )
    return items


def writer_throughput(workdir: Path, n: int = 50_000, rounds: int = 3) -> list[str]:
    """(b) The real writer thread emptying a filled queue, vs stdlib executemany of the same rows.

    Writer and baseline alternate, each into a fresh database, ``rounds`` times; the best of each counts.
    """
    from metrics_core import config, pricing, recording, storage

    lines = []
    for tags, details in ((False, False), (True, False), (True, True)):
        items = _items(n, tags, details)
        best_writer = best_baseline = float("inf")
        for r in range(rounds):
            url = f"sqlite:///{workdir / f'writer{int(tags)}{int(details)}-{r}.db'}"
            engine = storage.get_engine(url)
            writer = recording.Writer(url, queue_size=n, batch_size=5000, interval=1.0, sync=False)
            writer.queue.extend(items)
            writer.enqueued = n
            started = time.perf_counter()
            assert writer.flush(600)
            best_writer = min(best_writer, time.perf_counter() - started)
            writer.stopping = True
            writer.wake.set()
            with engine.connect() as conn:
                landed = conn.exec_driver_sql("SELECT count(*) FROM llm_requests").scalar()
                rolled = conn.exec_driver_sql("SELECT sum(requests) FROM llm_costs_daily").scalar()
            assert landed == rolled == n

            # the baseline: the very rows the writer inserted, one executemany in one transaction
            with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
                known = {
                    n: (i, t, p)
                    for i, n, t, p in conn.execute(
                        "SELECT id, name, provider_type, pricing_provider FROM llm_providers"
                    )
                }
            values, _, _ = batch.prepare(items, known, {}, pricing.Pricer(), config.settings(), True)
            base_path = workdir / f"baseline{int(tags)}{int(details)}-{r}.db"
            storage.get_engine(f"sqlite:///{base_path}")
            storage.dispose_all()
            conn = sqlite3.connect(base_path, isolation_level=None)
            conn.execute("PRAGMA synchronous=NORMAL")
            started = time.perf_counter()
            conn.execute("BEGIN")
            conn.executemany(batch.SQLITE_INSERT, values)
            conn.execute("COMMIT")
            best_baseline = min(best_baseline, time.perf_counter() - started)
            conn.close()
        what = "2 tags per row" if tags else "no tags"
        if details:
            what += ", service_tier and usage_details"
        lines.append(
            f"(b) writer, {what}: {n / best_writer:,.0f} rows/s sustained (raw rows + rollups + breakers, batches "
            f"of 5000); stdlib executemany of the same rows in one transaction: {n / best_baseline:,.0f} rows/s "
            f"-> {best_baseline / best_writer:.2f} of the baseline (target >= 0.33; best of {rounds} each)"
        )
    return lines


WORKER = """
    import random, sys, time
    from metrics_core import record_request, recording
    seconds, seed = float(sys.argv[1]), int(sys.argv[2])
    rnd = random.Random(seed)
    models = [("claude", "claude-sonnet-4-5"), ("openai", "gpt-4o-mini"), ("ollama", "llama3")]
    n = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for _ in range(100):
            provider, model = rnd.choice(models)
            record_request(provider_name=provider, model=model, status="success", prompt_tokens=rnd.randint(0, 5000),
                           completion_tokens=rnd.randint(0, 500), duration_seconds=rnd.random(),
                           tags={"worker": str(seed)} if n % 2 else None)
            n += 1
        time.sleep(0.01)
    print(n, recording.stats()["dropped"])
"""


def four_processes(workdir: Path, seconds: float = 10.0) -> list[str]:
    """(c) Four processes recording at once into one fresh SQLite file."""
    db_path = workdir / "four.db"
    script = workdir / "worker.py"
    script.write_text(textwrap.dedent(WORKER))
    env = {**ENV, "LLM_METRICS_DB_URL": f"sqlite:///{db_path}"}
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(seconds), str(i)], env=env, stdout=subprocess.PIPE, text=True
        )
        for i in range(4)
    ]
    recorded = dropped = 0
    for p in procs:
        out, _ = p.communicate(timeout=seconds + 120)
        n, d = map(int, out.split())
        recorded, dropped = recorded + n, dropped + d
    elapsed = time.perf_counter() - started
    with sqlite3.connect(db_path) as conn:
        landed = conn.execute("SELECT count(*) FROM llm_requests").fetchone()[0]
        rolled = conn.execute("SELECT sum(requests) FROM llm_costs_daily").fetchone()[0]
    return [
        f"(c) 4 processes x {seconds:g} s into one SQLite file: recorded {recorded:,}, landed {landed:,} "
        f"(rollup {rolled:,}), dropped {dropped} -> landed/recorded = {landed / recorded:.4f} "
        f"({recorded / elapsed:,.0f} rows/s overall, exits included)"
    ]


FORK = """
    import multiprocessing as mp, sys
    from metrics_core import record_request, recording

    def rec(who, n):
        for _ in range(n):
            record_request(provider_name="claude", model="claude-haiku-4-5", status="success", prompt_tokens=10,
                           completion_tokens=1, tags={"who": who})

    def task(i):
        rec("pool", 100)

    def child(i):
        rec("process", 1000)

    if __name__ == "__main__":
        ctx = mp.get_context("fork")
        rec("parent", 2000)
        pending = recording.stats()["queued"]
        procs = [ctx.Process(target=child, args=(i,)) for i in range(4)]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        with ctx.Pool(2) as pool:  # leaving calls terminate(): SIGTERM to the workers
            pool.map(task, range(20), chunksize=1)
        pool = ctx.Pool(2)
        pool.map(task, range(20), chunksize=1)
        pool.close()
        pool.join()
        print(pending)
"""


def fork_children(workdir: Path) -> list[str]:
    """(d) multiprocessing fork children: Process, Pool via close/join and via `with` (terminate)."""
    db_path = workdir / "fork.db"
    script = workdir / "fork.py"
    script.write_text(textwrap.dedent(FORK))
    env = {**ENV, "LLM_METRICS_DB_URL": f"sqlite:///{db_path}", "LLM_METRICS_FLUSH_INTERVAL": "30"}
    out = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300, check=True
    )
    with sqlite3.connect(db_path) as conn:
        counts = dict(conn.execute("SELECT json_extract(tags, '$.who'), count(*) FROM llm_requests GROUP BY 1"))
    expected = {"parent": 2000, "process": 4000, "pool": 4000}
    return [
        f"(d) fork children: rows landed {counts} vs recorded {expected} "
        f"({'all there, parent rows once' if counts == expected else 'MISMATCH'}; "
        f"{out.stdout.strip()} parent rows were still queued at fork)"
    ]


MEMORY = """
    import os, sqlite3, sys, tracemalloc
    from metrics_core import flush, record_request, recording
    q = int(sys.argv[1])
    record_request(provider_name="claude", model="claude-sonnet-4-5", status="success")
    flush()
    lock = sqlite3.connect(sys.argv[2], isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")  # the writer cannot drain: the queue fills and stays full

    def fill(make):
        writer = recording.current()
        writer.queue.clear()
        writer.enqueued = writer.finished
        dropped = writer.dropped
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        i = 0
        while writer.dropped < dropped + 1000:
            record_request(provider_name="claude", model="claude-sonnet-4-5", prompt_tokens=1000 + i,
                           completion_tokens=300 + i % 100, duration_seconds=0.5 + i * 1e-6, **make(i))
            i += 1
        used = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        return used, len(writer.queue), writer.dropped - dropped

    typical = fill(lambda i: {"status": "success"})
    lock.execute("ROLLBACK")
    recording.reset(flush_first=False)
    os.environ["LLM_METRICS_QUEUE_SIZE"] = "5000"
    record_request(provider_name="claude", model="claude-sonnet-4-5", status="success")
    flush()
    lock.execute("BEGIN EXCLUSIVE")
    # the largest record validation lets in, every string made afresh per record (non-ASCII error)
    worst = fill(lambda i: {
        "status": "failed", "endpoint": f"/{i:0499d}", "error_message": f"é{i:05d}" * 2000,
        "tags": {f"k{k:02d}{i:097d}": f"v{k:02d}{i:0197d}" for k in range(20)}})
    print(*typical, *worst, recording.QUEUED_RECORD_BYTES, recording.MAX_QUEUED_RECORD_BYTES)
    lock.execute("ROLLBACK")
    recording.current().queue.clear()
    recording.current().enqueued = recording.current().finished
"""


def queue_memory(workdir: Path, queue_size: int = 100_000) -> list[str]:
    """(e) A full queue (the database locked), measured with tracemalloc in a fresh process."""
    db_path = workdir / "memory.db"
    script = workdir / "memory.py"
    script.write_text(textwrap.dedent(MEMORY))
    env = {**ENV, "LLM_METRICS_DB_URL": f"sqlite:///{db_path}", "LLM_METRICS_QUEUE_SIZE": str(queue_size)}
    out = subprocess.run(
        [sys.executable, str(script), str(queue_size), str(db_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    typical, queued, dropped, worst, worst_queued, worst_dropped, bound, worst_bound = map(int, out.stdout.split())
    return [
        f"(e) full queue ({queued:,} records queued, {dropped:,} more dropped and counted): {typical / 2**20:.1f} MiB "
        f"= {typical / queued:.0f} bytes per typical record; documented bound {bound} "
        f"-> {typical / queued / bound:.2f} of it",
        f"    the largest records validation lets in (20 tags of 100+200 chars, 500-char endpoint, 12k-char error "
        f"kept to 1000 + {ERROR_MARGIN} chars, all made afresh): {worst / worst_queued:,.0f} bytes/record; "
        f"documented ceiling {worst_bound:,} -> {worst / worst_queued / worst_bound:.2f} of it "
        f"({worst_dropped:,} dropped)",
    ]


def run() -> list[str]:
    saved = {k: v for k, v in os.environ.items() if k.startswith("LLM_METRICS_")}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        try:
            lines = caller_overhead(workdir)
            lines += writer_throughput(workdir)
            lines += four_processes(workdir)
            lines += fork_children(workdir)
            lines += queue_memory(workdir)
        finally:
            for k in [k for k in os.environ if k.startswith("LLM_METRICS_")]:
                del os.environ[k]
            os.environ.update(saved)
            from metrics_core import recording, storage

            recording.reset(flush_first=False)
            storage.dispose_all()
    return lines
