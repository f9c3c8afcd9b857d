"""The monthly report: totals, breakdowns by provider, model and tag, savings against the reference
model, budget status, availability per provider and the top errors — as Markdown, one
self-contained HTML file (charts rendered to inline SVG with vl-convert, no network needed to view
it) or CSV (tidy: ``section, key, metric, value``).

Every figure comes from ``metrics_core.queries`` over the month's whole UTC days, so the report's
totals are the database's (``cost_summary``) to the cent; the CSV keeps full precision.
"""

from __future__ import annotations

import csv
import html
import io
import re
from decimal import Decimal

import pandas as pd

from ..formatting import csv_cell, money, provider_colors
from ..money import as_float
from . import billing_section
from .gather import Report

FORMATS = ("md", "html", "csv")
_NUMBER = re.compile(r"-|\$?-?[\d,.]+%?|\d+ of \d+")


# -- formatting ---------------------------------------------------------------------------------


def usd(value) -> str:
    """Money as the dashboard writes it (``formatting.money``); an unknown cost reads ``unpriced``."""
    return money(value, missing="unpriced")


def _pct(value) -> str:
    return "-" if value is None else f"{float(value):.1f}%"


def _sections(r: Report) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) of every table, shared by Markdown and HTML."""
    c = r.costs
    out = []
    out.append(
        (
            "By provider",
            ["Provider", "Type", "Requests", "Spend", f"On {c['reference_model']}", "Savings", "Unpriced"],
            [
                [
                    p["provider"],
                    p["provider_type"],
                    f"{p['total_requests']:,}",
                    usd(p["total_cost_usd"]),
                    usd(p["hypothetical_claude_cost_usd"]),
                    usd(p["estimated_savings_usd"]),
                    f"{p['unpriced_requests']:,}",
                ]
                for p in c["by_provider"]
            ],
        )
    )
    out.append(
        (
            "By model",
            ["Provider", "Model", "Requests", "Spend", f"On {c['reference_model']}", "Savings", "Unpriced"],
            [
                [
                    m["provider"],
                    m["model"],
                    f"{m['total_requests']:,}",
                    usd(m["total_cost_usd"]),
                    usd(m["hypothetical_claude_cost_usd"]),
                    usd(m["estimated_savings_usd"]),
                    f"{m['unpriced_requests']:,}",
                ]
                for m in sorted(
                    c["by_model"],
                    key=lambda m: (m["total_cost_usd"] is None, -(m["total_cost_usd"] or 0), m["provider"], m["model"]),
                )
            ],
        )
    )
    out.append(
        (
            "By tag",
            ["Tag", "Value", "Requests", "Spend", "Savings", "Unpriced"],
            [
                [
                    t.tag_key,
                    t.tag_value,
                    f"{t.total_requests:,}",
                    usd(t.total_cost_usd),
                    usd(t.estimated_savings_usd),
                    f"{t.unpriced_requests:,}",
                ]
                for t in r.tags.itertuples()
            ],
        )
    )
    out.append(
        (
            "Budgets",
            ["Budget", "Scope", "Period", "Kind", "Limit", "Spent in month", "Periods over", "Worst period"],
            [
                [
                    b["name"],
                    b["scope"],
                    b["period"],
                    b["kind"],
                    usd(b["amount_usd"]),
                    usd(b["spent_usd"]),
                    f"{b['periods_over']} of {b['periods']}",
                    _pct(b["max_period_pct"]),
                ]
                for b in r.budgets
            ],
        )
    )
    out.append(
        (
            "Availability",
            ["Provider", "Availability", "Circuit openings", "Minutes open", "Requests", "Success rate"],
            [
                [
                    a.provider,
                    f"{a.availability_pct:.2f}%",
                    str(a.openings),
                    f"{a.open_minutes:,.1f}",
                    f"{a.requests:,}",
                    _pct(a.success_rate) if a.requests else "-",
                ]
                for a in r.availability.itertuples()
            ],
        )
    )
    out.append(
        (
            "Top errors",
            ["Provider", "Status", "Error", "Count"],
            [[e.provider, e.status, e.error, f"{e.count:,}"] for e in r.errors.itertuples()],
        )
    )
    billed = billing_section.section(r.billing)
    return [*out, billed] if billed else out


def _summary_lines(r: Report) -> list[tuple[str, str]]:
    c, u = r.costs, r.usage
    total = c["total_requests"]
    local_share = f" ({c['local_share_pct']:.1f}%)" if c["local_share_pct"] is not None else ""
    return [
        ("Total spend", usd(c["total_cost_usd"])),
        ("Requests", f"{total:,} ({c['local_requests']:,} local{local_share}, {c['remote_requests']:,} remote)"),
        ("Success rate", _pct(u["success_rate"]) if total else "-"),
        (f"Same traffic on {c['reference_model']}", usd(c["hypothetical_claude_cost_usd"])),
        ("Savings", f"{usd(c['estimated_savings_usd'])} ({c['savings_percentage']:.1f}%)"),
        ("Unpriced calls (not in the spend)", f"{c['unpriced_requests']:,}"),
        ("Response time", f"p50 {u['p50_response_time_ms']:,.0f} ms, p95 {u['p95_response_time_ms']:,.0f} ms"),
    ]


_MD_CELL_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def _md_cell(text: str) -> str:
    """A table cell as literal text: raw HTML as entities (no ``<script>`` or ``<img onerror>`` gets
    through), Markdown's link, emphasis, code and table characters backslash-escaped, one line."""
    escaped = html.escape(" ".join(str(text).splitlines()), quote=False)
    return _MD_CELL_SPECIAL.sub(r"\\\1", escaped)


def render_md(r: Report) -> str:
    lines = [
        f"# LLM usage report — {r.month_label}",
        "",
        f"{r.window.start} to {r.window.end} (UTC), generated {r.generated_at:%Y-%m-%d %H:%M} UTC.",
        "",
    ]
    lines += [f"- **{_md_cell(k)}:** {_md_cell(v)}" for k, v in _summary_lines(r)]
    for title, header, rows in _sections(r):
        lines += ["", f"## {title}", ""]
        if not rows:
            lines.append("_None._")
            continue
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "|".join("---" for _ in header) + "|")
        lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
        if title == billing_section.TITLE:
            lines += ["", billing_section.EXPLANATION]
    return "\n".join(lines) + "\n"


# -- charts (inline SVG) ------------------------------------------------------------------------


def _svg(chart) -> str:
    try:
        import vl_convert
    except ImportError:  # pragma: no cover - vl-convert-python is a pinned dependency
        return "<p><em>Charts need the vl-convert-python package.</em></p>"
    svg = vl_convert.vegalite_to_svg(chart.to_dict())
    return svg[svg.find("<svg") :]


def _charts(r: Report) -> list[tuple[str, str]]:
    import altair as alt

    charts = []
    daily = pd.DataFrame(
        [
            {"date": d["date"], "provider": d["provider"], "cost_usd": as_float(d["cost_usd"])}
            for d in r.daily_by_provider
        ]
    )
    order = r.provider_order or tuple(sorted(set(daily["provider"]))) if not daily.empty else ()
    if not daily.empty:
        charts.append(
            (
                "Daily spend by provider",
                _svg(
                    alt.Chart(daily)
                    .mark_bar()
                    .encode(
                        x=alt.X("date:T", title=None),
                        y=alt.Y("sum(cost_usd):Q", title="USD"),
                        color=alt.Color(
                            "provider:N",
                            title="Provider",  # the dashboard's color for each provider
                            scale=alt.Scale(domain=list(order), range=provider_colors(order)),
                        ),
                        tooltip=["date:T", "provider:N", "cost_usd:Q"],
                    )
                    .properties(width=640, height=220)
                ),
            )
        )
    models = pd.DataFrame(
        [
            {"model": f"{m['provider']}/{m['model']}", "cost_usd": as_float(m["total_cost_usd"])}
            for m in r.costs["by_model"]
            if m["total_cost_usd"] is not None and m["total_cost_usd"] > 0
        ]
    )
    if not models.empty:
        charts.append(
            (
                "Spend by model",
                _svg(
                    alt.Chart(models)
                    .mark_bar()
                    .encode(
                        x=alt.X("cost_usd:Q", title="USD"),
                        y=alt.Y("model:N", sort="-x", title=None),
                    )
                    .properties(width=560, height=max(60, 22 * len(models)))
                ),
            )
        )
    if not r.availability.empty:
        charts.append(
            (
                "Availability per provider",
                _svg(
                    alt.Chart(r.availability[["provider", "availability_pct"]])
                    .mark_bar()
                    .encode(
                        x=alt.X(
                            "availability_pct:Q",
                            title="% of the month the circuit was not open",
                            scale=alt.Scale(domain=[0, 100]),
                        ),
                        y=alt.Y("provider:N", title=None),
                    )
                    .properties(width=560, height=max(60, 22 * len(r.availability)))
                ),
            )
        )
    return charts


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:1000px;
color:#1f2328;padding:0 1rem}
h1{margin-bottom:.2rem}.meta{color:#57606a;margin-top:0}
dl{display:grid;grid-template-columns:max-content auto;gap:.3rem 1.2rem}dt{color:#57606a}dd{margin:0;font-weight:600}
table{border-collapse:collapse;margin:.5rem 0 1.5rem;font-size:.9rem}
th,td{border-bottom:1px solid #d0d7de;padding:.3rem .6rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.n{text-align:right;font-variant-numeric:tabular-nums}figure{margin:1rem 0}
"""


def render_html(r: Report) -> str:
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>LLM usage report {e(r.month_label)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>LLM usage report — {e(r.month_label)}</h1>",
        f'<p class="meta">{r.window.start} to {r.window.end} (UTC), generated {r.generated_at:%Y-%m-%d %H:%M} UTC.</p>',
        "<dl>",
    ]
    parts += [f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in _summary_lines(r)]
    parts.append("</dl>")
    for title, svg in _charts(r):
        parts.append(f"<figure><figcaption><strong>{e(title)}</strong></figcaption>{svg}</figure>")
    for title, header, rows in _sections(r):
        parts.append(f"<h2>{e(title)}</h2>")
        if not rows:
            parts.append("<p><em>None.</em></p>")
            continue
        parts.append("<table><thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr></thead><tbody>")
        for row in rows:
            cells = "".join(f'<td class="n">{e(c)}</td>' if _NUMBER.fullmatch(c) else f"<td>{e(c)}</td>" for c in row)
            parts.append(f"<tr>{cells}</tr>")
        parts.append("</tbody></table>")
        if title == billing_section.TITLE:
            parts.append(f"<p>{e(billing_section.EXPLANATION)}</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def render_csv(r: Report) -> str:
    """Tidy rows ``section, key, metric, value``; money in USD with full precision."""
    buf = io.StringIO()
    w = _TidyWriter(csv.writer(buf, lineterminator="\n"))
    w.writerow(["section", "key", "metric", "value"])
    c = r.costs
    money = ("total_cost_usd", "hypothetical_claude_cost_usd", "estimated_savings_usd")
    w.writerow(["report", "", "month", r.month_label])
    w.writerow(["report", "", "reference_model", c["reference_model"]])
    for m in (*money, "savings_percentage"):
        w.writerow(["total", "", m, c[m]])
    for m in ("total_requests", "local_requests", "remote_requests", "unpriced_requests"):
        w.writerow(["total", "", m, c[m]])
    w.writerow(["total", "", "success_rate", r.usage["success_rate"]])
    for section, rows, key in (
        ("provider", c["by_provider"], lambda x: x["provider"]),
        ("model", c["by_model"], lambda x: f"{x['provider']}/{x['model']}"),
    ):
        for row in rows:
            for m in (*money, "total_requests", "unpriced_requests"):
                w.writerow([section, key(row), m, row[m]])
    for t in r.tags.itertuples():
        for m in ("total_cost_usd", "estimated_savings_usd", "total_requests", "unpriced_requests"):
            w.writerow(["tag", f"{t.tag_key}={t.tag_value}", m, getattr(t, m)])
    for b in r.budgets:
        for m in ("amount_usd", "spent_usd", "periods", "periods_over", "max_period_pct"):
            w.writerow(["budget", b["name"], m, b[m]])
    for a in r.availability.itertuples():
        for m in ("availability_pct", "openings", "open_minutes", "requests", "success_rate"):
            w.writerow(["availability", a.provider, m, getattr(a, m)])
    for i, err in enumerate(r.errors.itertuples(), 1):
        w.writerow(["error", i, "provider", err.provider])
        w.writerow(["error", i, "status", err.status])
        w.writerow(["error", i, "message", err.error])
        w.writerow(["error", i, "count", err.count])
    for row in billing_section.csv_rows(r.billing):
        w.writerow(row)
    return buf.getvalue()


class _TidyWriter:
    """Writes Decimals in plain notation (money to 1e-10 USD, percents to 1e-4), and text cells that
    a spreadsheet would run as a formula neutralised (``formatting.csv_cell``)."""

    def __init__(self, writer) -> None:
        self.writer = writer

    def writerow(self, row) -> None:
        *head, metric, value = row
        if isinstance(value, Decimal):
            value = value.quantize(Decimal("1e-4") if metric.endswith(("percentage", "_pct")) else Decimal("1e-10"))
            value = f"{value:f}"
        elif isinstance(value, float):
            value = f"{value:g}" if value == value else ""
        self.writer.writerow([csv_cell(v) for v in (*head, metric, value)])  # no formula injection


def render(report: Report, fmt: str) -> str:
    """The report as ``md``, ``html`` or ``csv`` text."""
    if fmt == "md":
        return render_md(report)
    if fmt == "html":
        return render_html(report)
    if fmt == "csv":
        return render_csv(report)
    raise ValueError(f"format must be one of {', '.join(FORMATS)}; got {fmt!r}")
