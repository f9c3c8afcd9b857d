"""Budgets, alerts and reports on 90 days of a busy team's demo data (rollups: flat in raw rows).

Baselines in the same run: ``pick_provider`` without budgets (what hard budgets add to routing) and
``queries.cost_summary`` of the month (what the report adds on top of the query it is built on).
"""

import os
import tempfile
import time
from pathlib import Path

from metrics_core import alerts, budgets, clock, demo, pick_provider, queries, reports, storage
from metrics_core.budgets import check_budget
from metrics_core.policy import providers


def _timed(fn, repeat: int) -> float:
    fn()  # warm up
    started = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - started) / repeat


def run():
    folder = tempfile.mkdtemp(prefix="llm-metrics-bench-budgets-")
    url = f"sqlite:///{Path(folder) / 'bench.db'}"
    os.environ["LLM_METRICS_DB_URL"] = url
    engine = storage.get_engine(url)
    started = time.perf_counter()
    calls = demo.load(engine, days=90, per_day=3000)
    yield f"demo data: {calls:,} calls in {time.perf_counter() - started:.1f} s"

    base_pick = _timed(lambda: providers.pick_provider(engine=engine), 50)
    for name, scope, hard in [("all", "all", True), ("claude", "provider:claude", True),
                              ("gpt-4o", "model:gpt-4o", True), ("search", "tag:project=search", True),
                              ("support", "tag:project=support", False), ("weekly", "all", False)]:  # fmt: skip
        budgets.set_budget(name=name, amount_usd=100_000, scope=scope, hard=hard,
                           period="weekly" if name == "weekly" else "monthly", engine=engine)  # fmt: skip
    pick = _timed(lambda: pick_provider(engine=engine), 50)
    yield (
        f"pick_provider: {pick * 1000:.2f} ms with 4 hard budgets vs {base_pick * 1000:.2f} ms without "
        f"({pick / base_pick:.2f}x)"
    )
    check = _timed(
        lambda: check_budget(provider="claude", model="gpt-4o", tags={"project": "search"}, engine=engine), 50
    )
    yield f"check_budget (4 hard budgets apply): {check * 1000:.2f} ms per call"
    status = _timed(lambda: budgets.statuses(engine=engine), 10)
    yield f"budget statuses with forecasts (6 budgets): {status * 1000:.1f} ms"
    evaluate = _timed(lambda: alerts.evaluate(settings=alerts.AlertSettings(), engine=engine), 10)
    yield f"alerts.evaluate (every rule): {evaluate * 1000:.1f} ms"
    window = reports.month_window(clock.today())
    base = _timed(lambda: queries.cost_summary(window=window, engine=engine), 5)
    report = _timed(lambda: reports.monthly_report(engine=engine), 5)
    yield (
        f"monthly report data: {report * 1000:.0f} ms ({report / base:.1f}x the month's cost_summary, "
        f"{base * 1000:.0f} ms)"
    )
    data = reports.monthly_report(engine=engine)
    for fmt in ("md", "csv", "html"):
        took = _timed(lambda fmt=fmt: reports.render(data, fmt), 3)
        yield f"render {fmt}: {took * 1000:.0f} ms, {len(reports.render(data, fmt)):,} bytes"
    storage.dispose_all()
