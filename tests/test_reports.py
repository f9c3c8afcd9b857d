"""Monthly reports: totals equal the database to the cent in every format; HTML is self-contained."""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from metrics_core import budgets, demo, queries, reports
from metrics_core.queries import Window

CENT = Decimal("0.01")
NOW = datetime(2026, 11, 12, 15, 0, tzinfo=UTC)
OCTOBER = Window(date(2026, 10, 1), date(2026, 10, 31))


@pytest.fixture
def demo_db(engine):
    demo.load(engine, days=45, per_day=120, now=NOW)  # 2026-09-29 .. 2026-11-12: October is whole
    budgets.set_budget(name="all", amount_usd=50, engine=engine)
    budgets.set_budget(
        name="claude-weekly", amount_usd="2.5", scope="provider:claude", period="weekly", hard=True, engine=engine
    )
    return engine


def tidy(text: str) -> dict[tuple[str, str, str], str]:
    return {(r["section"], r["key"], r["metric"]): r["value"] for r in csv.DictReader(io.StringIO(text))}


def test_csv_totals_match_the_database_to_the_cent(demo_db):
    expected = queries.cost_summary(window=OCTOBER, engine=demo_db)
    assert expected["total_requests"] > 2000 and expected["total_cost_usd"] > 1
    report = reports.monthly_report("2026-10", now=NOW, engine=demo_db)
    rows = tidy(reports.render_csv(report))
    total = Decimal(rows[("total", "", "total_cost_usd")])
    assert total.quantize(CENT) == expected["total_cost_usd"].quantize(CENT)
    assert abs(total - expected["total_cost_usd"]) < Decimal("1e-9")
    for key in ("hypothetical_claude_cost_usd", "estimated_savings_usd"):
        assert Decimal(rows[("total", "", key)]).quantize(CENT) == expected[key].quantize(CENT)
    for key in ("total_requests", "local_requests", "remote_requests", "unpriced_requests"):
        assert int(rows[("total", "", key)]) == expected[key]
    # the breakdowns add up to the total
    by_provider = sum(Decimal(v) for (s, _, m), v in rows.items() if s == "provider" and m == "total_cost_usd")
    by_model = sum(
        Decimal(v) for (s, _, m), v in rows.items() if s == "model" and m == "total_cost_usd" and v != ""
    )  # an unpriced model has no cost
    assert by_provider.quantize(CENT) == by_model.quantize(CENT) == total.quantize(CENT)
    for p in expected["by_provider"]:
        assert Decimal(rows[("provider", p["provider"], "total_cost_usd")]).quantize(CENT) == p[
            "total_cost_usd"
        ].quantize(CENT)
    # tag spend per tag key covers every call once
    project = sum(
        Decimal(v) for (s, k, m), v in rows.items() if s == "tag" and k.startswith("project=") and m == "total_cost_usd"
    )
    assert project.quantize(CENT) == total.quantize(CENT)
    assert rows[("budget", "all", "spent_usd")] and Decimal(rows[("budget", "all", "spent_usd")]).quantize(
        CENT
    ) == total.quantize(CENT)
    assert int(rows[("budget", "claude-weekly", "periods")]) == 5  # the weeks that touch October
    assert rows[("error", "1", "count")]


def test_markdown_shows_the_same_totals(demo_db):
    expected = queries.cost_summary(window=OCTOBER, engine=demo_db)
    text = reports.render_md(reports.monthly_report(date(2026, 10, 15), now=NOW, engine=demo_db))
    assert text.startswith("# LLM usage report — 2026-10\n")
    total = re.search(r"\*\*Total spend:\*\* \$([\d,.]+)", text).group(1)
    assert Decimal(total.replace(",", "")) == expected["total_cost_usd"].quantize(CENT)
    savings = re.search(r"\*\*Savings:\*\* \$([\d,.]+)", text).group(1)
    assert Decimal(savings.replace(",", "")) == expected["estimated_savings_usd"].quantize(CENT)
    for section in ("## By provider", "## By model", "## By tag", "## Budgets", "## Availability", "## Top errors"):
        assert section in text
    assert "| openai | remote |" in text


def test_availability_counts_the_outage(engine):
    # the demo's outage: openai fails from 10:00 to 18:00 UTC on day days//3, which opens its circuit
    demo.load(engine, days=30, per_day=200, now=datetime(2026, 10, 31, 23, 0, tzinfo=UTC))
    report = reports.monthly_report("2026-10", now=NOW, engine=engine)
    av = report.availability.set_index("provider")
    assert av.loc["openai", "openings"] >= 1
    assert av.loc["openai", "availability_pct"] < 100
    assert av.loc["ollama", "availability_pct"] == 100
    assert set(report.errors["provider"]) >= {"openai"}


def test_html_is_one_self_contained_file_with_charts(demo_db):
    html = reports.render_html(reports.monthly_report("2026-10", now=NOW, engine=demo_db))
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert html.count("<svg") >= 3  # daily spend, spend by model, availability
    assert "<script" not in html and "<link" not in html and "<img" not in html
    assert not re.search(r"""(src|href)=["']?https?:""", html)
    expected = queries.cost_summary(window=OCTOBER, engine=demo_db)["total_cost_usd"].quantize(CENT)
    assert f"<dt>Total spend</dt><dd>${expected:,.2f}</dd>" in html


def test_an_empty_month_reports_zeros(engine):
    text = reports.render_md(reports.monthly_report("2026-01", now=NOW, engine=engine))
    assert "**Total spend:** $0.00" in text and "_None._" in text
    html = reports.render_html(reports.monthly_report("2026-01", now=NOW, engine=engine))
    assert "<dd>$0.00</dd>" in html and "Daily spend by provider" not in html


def test_report_command_writes_each_format(demo_db, metrics_db, tmp_path):
    env = {**os.environ, "LLM_METRICS_DB_URL": metrics_db}
    for fmt in ("md", "html", "csv"):
        out = tmp_path / f"report.{fmt}"
        run = subprocess.run(
            [sys.executable, "-m", "metrics_core", "report", "--month", "2026-10", "--format", fmt, "--out", str(out)],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert run.returncode == 0, run.stderr
        assert f"✓ Wrote the 2026-10 report ({fmt})" in run.stdout
        assert out.stat().st_size > 1000
    bad = subprocess.run(
        [sys.executable, "-m", "metrics_core", "report", "--month", "October"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert bad.returncode == 2 and "expected a month as YYYY-MM" in bad.stderr
