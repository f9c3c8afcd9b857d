"""Hard budgets: what ``reserve`` + settle costs per call, and the race it wins.

Per backend (SQLite file; PostgreSQL when its binaries are installed, tests/pg_server.py):

* latency of one call's bookkeeping, median and p99: ``reserve`` + ``record`` (settle) under one
  covering hard budget, against the baseline of a plain ``record_request(sync=True)`` measured in
  the same run (target: within 3x); and ``reserve`` + ``record`` when no hard budget covers the call;
* 8 processes racing $0.05-worst-case calls ($0.03-$0.05 actual) against a $1.00 hard budget, with
  reservations and with today's ``check_budget`` then ``record_request``: spend and overshoot.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench import reservation_race as race

ROOT = Path(__file__).resolve().parent.parent
CALLS = 400
WARM_UP = 600
RACES = 3


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def _latency(url: str) -> dict[str, tuple[float, float]]:
    from metrics_core import record_request, reserve, storage
    from metrics_core.policy import budgets

    engine = storage.get_engine(url)
    kwargs = dict(status="success", prompt_tokens=4000, completion_tokens=3000, tags={"project": "bench"})

    def plain():
        record_request(provider_name="openai", model="gpt-4o", sync=True, **kwargs)

    def reserved(provider="openai", model="gpt-4o"):
        with reserve(provider, model, prompt_tokens=4000, max_output_tokens=4000, tags={"project": "bench"}) as r:
            r.record(**kwargs)

    def unbudgeted():
        reserved("claude", "claude-sonnet-4-5")  # no hard budget covers it

    def timed(fn, n: int = CALLS) -> list[float]:
        for _ in range(10):
            fn()  # warm up
        samples = []
        for _ in range(n):
            started = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - started)
        return samples

    budgets.set_budget(name="bench", amount_usd=10_000_000, scope="provider:openai", hard=True, engine=engine)
    timed(reserved, WARM_UP)  # past the database's first growth (SQLite: the WAL file until it wraps)
    # interleave them so that load from elsewhere on the machine hits all alike
    base, ours, free = [], [], []
    for _ in range(8):
        base += timed(plain, CALLS // 8)
        ours += timed(reserved, CALLS // 8)
        free += timed(unbudgeted, CALLS // 8)
    result = {
        "record_request(sync=True)": _percentiles(base),
        "reserve + settle (1 hard budget)": _percentiles(ours),
        "reserve + settle, no hard budget covers the call": _percentiles(free),
    }
    budgets.delete_budget("bench", engine=engine)
    return result


def _reset(engine) -> None:
    from metrics_core import storage

    with engine.begin() as conn:
        for table in (
            storage.requests,
            storage.costs_daily,
            storage.tag_costs_daily,
            storage.latency_daily,
            storage.budget_holds,
            storage.alert_history,
        ):
            conn.execute(table.delete())


def _races(url: str, label: str) -> list[str]:
    from metrics_core import storage

    engine = storage.get_engine(url)
    lines = []
    for mode, name in (("reserve", "reserve + settle"), ("check", "check_budget then record")):
        runs = []
        for i in range(RACES):
            _reset(engine)
            race.set_race_budget(engine)
            runs.append(race.race(url, mode, processes=8, seed=100 * i))
        spent = ", ".join(f"${r.spent:.2f}" for r in runs)
        worst = max(r.overshoot for r in runs)
        lowest = min(r.spent for r in runs)
        lines.append(
            f"[{label}] race, 8 processes, $1.00 hard budget, {name}: spent {spent} in {RACES} runs; "
            f"overshoot up to ${worst:.2f}; lowest spend ${lowest:.2f} (floor for no false blocks: "
            f"${race.LIMIT - race.WORST_CASE:.2f}); {sum(r.calls for r in runs)} calls, "
            f"{sum(r.waits for r in runs)} waits while others held"
        )
    _reset(engine)
    return lines


def _measure(url: str, label: str) -> list[str]:
    os.environ["LLM_METRICS_DB_URL"] = url
    os.environ["LLM_METRICS_ALERT_INTERVAL"] = "0"
    from metrics_core import recording, storage

    recording.reset(flush_first=False)
    storage.dispose_all()
    storage.get_engine(url)
    lat = _latency(url)
    base_med, base_p99 = lat["record_request(sync=True)"]
    lines = []
    for name, (med, p99) in lat.items():
        lines.append(
            f"[{label}] {name}: median {med * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms "
            f"({med / base_med:.2f}x / {p99 / base_p99:.2f}x the plain record)"
        )
    med = lat["reserve + settle (1 hard budget)"][0]
    lines.append(f"[{label}] reserve + settle within 3x of record_request(sync=True): {med / base_med <= 3}")
    return lines + _races(url, label)


def run() -> list[str]:
    lines: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-reservations-") as tmp:
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
        from metrics_core import storage

        storage.dispose_all()
        stop()
    return lines


if __name__ == "__main__":
    for line in run():
        print(line)
