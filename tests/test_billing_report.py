"""The monthly report's "Billed vs recorded" table, over the recorded-vs-billed fixture."""

from __future__ import annotations

from datetime import UTC, datetime

from test_billing_reconcile import pull_both, recorded  # noqa: F401  (the recorded calls of the fixture)

from metrics_core.reports import monthly_report, render

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def test_markdown_has_the_overall_lines_then_the_largest_gaps(recorded) -> None:  # noqa: F811
    pull_both(recorded)
    md = render(monthly_report("2026-11", now=NOW, engine=recorded), "md")
    table = md.split("## Billed vs recorded\n\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert table == [
        "| Provider | Day | Model | Recorded tokens | Billed tokens | Coverage | Recorded | Billed | Drift |",
        "|---|---|---|---|---|---|---|---|---|",
        "| anthropic | all 3 days | (overall) | 335,445 | 1,634,345 | 20.5% | $0.4685 | $3.21 | -85.4% |",
        "| openai | all 3 days | (overall) | 515,000 | 790,000 | 65.2% | $1.10 | $0.9929 | +10.7% |",
        "| anthropic | 2026-11-02 | claude-sonnet-4-5 | 0 | 1,300,000 | 0.0% | $0.00 | $1.75 | -100.0% |",
        "| openai | 2026-11-02 | gpt-4o | 150,000 | 150,000 | 100.0% | $0.69 | $0.575 | +20.0% |",
        "| openai | 2026-11-03 | gpt-4o | 90,000 | 90,000 | 100.0% | $0.36 | $0.30 | +20.0% |",
        "| openai | 2026-11-02 | gpt-4o-mini | 275,000 | 550,000 | 50.0% | $0.0488 | $0.0975 | -50.0% |",
        "| anthropic | 2026-11-04 | claude-haiku-4-5 | 1,100 | 0 | — | $0.0015 | $0.00 | — |",
    ]
    assert "Coverage = recorded tokens / billed tokens: under 100% means calls the app never recorded." in md


def test_csv_keeps_full_precision(recorded) -> None:  # noqa: F811
    pull_both(recorded)
    csv = render(monthly_report("2026-11", now=NOW, engine=recorded), "csv").splitlines()
    assert "billing,openai,billed_cost_usd,0.9929000000" in csv
    assert "billing,openai,drift_pct,10.6607" in csv
    assert "billing,anthropic,other_cost_usd,1.0000000000" in csv
    assert "billing_gap,openai/2026-11-02/gpt-4o-mini,coverage_pct,50.0000" in csv


def test_a_month_without_billed_figures_has_no_such_table(recorded) -> None:  # noqa: F811
    report = monthly_report("2026-11", now=NOW, engine=recorded)
    assert "Billed vs recorded" not in render(report, "md")
    assert "billing" not in render(report, "csv")
