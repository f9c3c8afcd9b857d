"""A race of processes against one hard budget, with reservations or with check-then-record.

Every call is ``openai``/``gpt-4o`` with 4,000 prompt tokens and at most 4,000 output tokens: a worst
case of exactly $0.05 (4,000 x $2.50/M + 4,000 x $10/M) and an actual cost of $0.03 to $0.05
(2,000 to 4,000 output tokens). Used by ``tests/test_reservation_race.py`` and
``bench/bench_reservations.py``.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time
from dataclasses import dataclass
from decimal import Decimal

PROVIDER, MODEL = "openai", "gpt-4o"
PROMPT, MAX_OUTPUT = 4000, 4000
WORST_CASE = Decimal("0.05")
LIMIT = Decimal("1.00")
BUDGET = "race"


@dataclass(frozen=True)
class RaceResult:
    """What a race left in the database."""

    spent: Decimal  # the sum of the recorded calls' costs
    calls: int  # calls admitted and recorded
    waits: int  # times a worker was refused while others held, and tried again
    seconds: float

    @property
    def overshoot(self) -> Decimal:
        return max(self.spent - LIMIT, Decimal(0))


def _setup_env(url: str, ttl: float | None) -> None:
    os.environ["LLM_METRICS_DB_URL"] = url
    os.environ["LLM_METRICS_DB_POOL_SIZE"] = "2"
    os.environ["LLM_METRICS_ALERT_INTERVAL"] = "0"
    if ttl is not None:
        os.environ["LLM_METRICS_RESERVATION_TTL"] = str(ttl)


def worker(url: str, mode: str, seed: int, ttl: float | None, go, ready, out) -> None:
    """Make calls until the budget refuses one (``mode``: ``reserve`` or ``check``); put (calls, waits)."""
    _setup_env(url, ttl)
    from metrics_core import BudgetExceeded, check_budget, record_request, reserve, storage

    engine = storage.get_engine(url)
    rng = random.Random(seed)
    calls = waits = 0
    ready.put(os.getpid())
    go.wait()
    while True:
        completion = rng.randrange(2000, MAX_OUTPUT + 1)
        if mode == "reserve":
            try:
                r = reserve(PROVIDER, MODEL, prompt_tokens=PROMPT, max_output_tokens=MAX_OUTPUT, engine=engine)
            except BudgetExceeded as exc:
                if exc.held:  # others hold part of it: some may come back
                    waits += 1
                    time.sleep(0.005)
                    continue
                break
            with r:
                time.sleep(rng.uniform(0, 0.004))  # the provider's call
                r.record(status="success", prompt_tokens=PROMPT, completion_tokens=completion)
        else:
            try:
                check_budget(provider=PROVIDER, model=MODEL, engine=engine)
            except BudgetExceeded:
                break
            time.sleep(rng.uniform(0, 0.004))
            record_request(
                provider_name=PROVIDER, model=MODEL, status="success", prompt_tokens=PROMPT,
                completion_tokens=completion, sync=True,
            )  # fmt: skip
        calls += 1
    out.put((calls, waits))


def holder(url: str, ttl: float, ready) -> None:
    """Reserve one call, say so, and hang (the test SIGKILLs this process)."""
    _setup_env(url, ttl)
    from metrics_core import reserve, storage

    engine = storage.get_engine(url)
    reserve(PROVIDER, MODEL, prompt_tokens=PROMPT, max_output_tokens=MAX_OUTPUT, engine=engine)
    ready.set()
    time.sleep(3600)


def set_race_budget(engine) -> None:
    from metrics_core.policy.budgets import set_budget

    set_budget(name=BUDGET, amount_usd=LIMIT, hard=True, engine=engine)


def recorded_spend(engine) -> tuple[Decimal, int]:
    """(sum of the recorded costs, number of calls), from the raw rows, exactly."""
    from sqlalchemy import select

    from metrics_core import storage

    with engine.connect() as conn:
        costs = list(conn.execute(select(storage.requests.c.cost_usd)).scalars())
    total = sum((Decimal(str(c)).quantize(Decimal("1e-10")) for c in costs), Decimal(0))
    return total, len(costs)


def kill_a_holder(url: str, ttl: float) -> int:
    """Start a process that holds one worst case, SIGKILL it while it holds; its pid."""
    ctx = multiprocessing.get_context("fork")
    ready = ctx.Event()
    proc = ctx.Process(target=holder, args=(url, ttl, ready))
    proc.start()
    if not ready.wait(120):
        proc.kill()
        raise RuntimeError("the holding process did not reserve within 120 s")
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(30)
    return proc.pid


def race(url: str, mode: str, *, processes: int = 8, ttl: float | None = None, seed: int = 42) -> RaceResult:
    """Run ``processes`` workers against the budget from a common start; the database's outcome."""
    from metrics_core import storage

    ctx = multiprocessing.get_context("fork")
    go, ready, out = ctx.Event(), ctx.Queue(), ctx.Queue()
    procs = [ctx.Process(target=worker, args=(url, mode, seed + i, ttl, go, ready, out)) for i in range(processes)]
    for p in procs:
        p.start()
    for _ in procs:  # every worker has imported and connected: start them together
        ready.get(timeout=300)
    started = time.perf_counter()
    go.set()
    results = [out.get(timeout=300) for _ in procs]
    seconds = time.perf_counter() - started
    for p in procs:
        p.join(60)
        if p.exitcode != 0:
            raise RuntimeError(f"a race worker exited with {p.exitcode}")
    spent, calls = recorded_spend(storage.get_engine(url))
    assert calls == sum(c for c, _ in results), (calls, results)
    return RaceResult(spent=spent, calls=calls, waits=sum(w for _, w in results), seconds=seconds)
