"""The monthly report's "Billed vs recorded" table: each provider's overall line, then the largest gaps.

Shown only when billed figures were pulled for the month (``llm-metrics reconcile``); the figures
are ``queries.billing``'s, formatted.
"""

from __future__ import annotations

from ..formatting import DASH, count, money, pct
from ..queries import billing

TITLE = "Billed vs recorded"
HEADER = ["Provider", "Day", "Model", "Recorded tokens", "Billed tokens", "Coverage", "Recorded", "Billed", "Drift"]
METRICS = (
    "recorded_tokens",
    "billed_tokens",
    "coverage_pct",
    "recorded_cost_usd",
    "billed_cost_usd",
    "drift_pct",
)
GAP_ROWS = 10
#: the one-line reading guide under the table
EXPLANATION = billing.COVERAGE_EXPLANATION + " Overall billed cost includes tool fees and other line items."


def _signed(value) -> str:
    return DASH if value is None else f"{float(value):+.1f}%"


def _cells(r: dict) -> list[str]:
    return [
        count(r["recorded_tokens"]),
        count(r["billed_tokens"]),
        pct(r["coverage_pct"]),
        money(r["recorded_cost_usd"], missing="unpriced"),
        money(r["billed_cost_usd"], missing="unknown"),
        _signed(r["drift_pct"]),
    ]


def section(result: dict | None) -> tuple[str, list[str], list[list[str]]] | None:
    """(title, header, rows) of the table, or None when nothing billed was pulled for the month."""
    if not result or not result["providers"]:
        return None
    rows = [[p["provider"], f"all {p['days_pulled']} days", "(overall)", *_cells(p)] for p in result["providers"]]
    rows += [[g["provider"], str(g["day"]), g["model"], *_cells(g)] for g in billing.largest_gaps(result, GAP_ROWS)]
    return TITLE, HEADER, rows


def csv_rows(result: dict | None) -> list[list]:
    """Tidy CSV rows: ``billing, <provider>, metric, value`` and ``billing_gap, <provider>/<day>/<model>, ...``."""
    if not result or not result["providers"]:
        return []
    out = []
    for p in result["providers"]:
        out += [["billing", p["provider"], m, p[m]] for m in (*METRICS, "other_cost_usd", "days_pulled")]
    for g in billing.largest_gaps(result, GAP_ROWS):
        out += [["billing_gap", f"{g['provider']}/{g['day']}/{g['model']}", m, g[m]] for m in METRICS]
    return out
