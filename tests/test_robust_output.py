"""Nothing injected (issue 12): user-supplied names and errors shown on the dashboard are literal text
in Markdown (no remote image, no link), the Markdown report escapes raw HTML, and no CSV cell a
spreadsheet would run as a formula leaves the report or the request-log export."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dashboard import data
from metrics_core import formatting as fmt
from metrics_core import record_request, reports

APP = str(Path(__file__).resolve().parents[1] / "app.py")
IMAGE = "![b](http://host/x.png)"
LINK = "[Sign in again](http://evil.example/login)"


def test_md_escapes_everything_markdown_and_streamlit_act_on():
    assert fmt.md(IMAGE) == r"\!\[b\]\(http\://host/x.png\)"
    assert fmt.md("*a* _b_ `c` :red[d] $e$ <img src=x onerror=f> # g\n# h") == (
        r"\*a\* \_b\_ \`c\` \:red\[d\] \$e\$ \<img src=x onerror=f\> # g # h"
    )
    assert [fmt.md(t) for t in ["# big", "- item", "1. x", "see www.evil.com", "a@b.com"]] == [
        r"\# big",
        r"\- item",
        r"1\. x",
        r"see www\.evil.com",
        r"a\@b.com",
    ]
    assert fmt.md("acme-support-ft-v2, gpt-4o (3.5 s)") == r"acme-support-ft-v2, gpt-4o \(3.5 s\)"
    assert fmt.md_code("gpt-4o") == "`gpt-4o`"
    assert fmt.md_code("a`b") == "`` a`b ``"


def test_csv_cell_neutralises_formulas_and_keeps_numbers():
    assert [fmt.csv_cell(v) for v in ["=1+1", "+cmd", "-2+3", "@SUM(A1)", "\tx", "a=b"]] == [
        "'=1+1",
        "'+cmd",
        "'-2+3",
        "'@SUM(A1)",
        "'\tx",
        "a=b",
    ]
    assert [fmt.csv_cell(v) for v in ["-1.5", "+2", "-0.0000000001", "1e-05", -3, None]] == [
        "-1.5",
        "+2",
        "-0.0000000001",
        "1e-05",
        -3,
        None,
    ]


def _hostile_calls() -> None:
    for provider, model in [(IMAGE, LINK), ('=HYPERLINK("http://x")', "+cmd|' /C calc'!A0")]:
        for status, error in [("success", None), ("failed", "<script>alert(1)</script> <img src=x onerror=alert(2)>")]:
            record_request(
                provider_name=provider,
                model=model,
                status=status,
                prompt_tokens=10,
                completion_tokens=5,
                error_message=error,
                tags={"team": "@SUM(1+1)*cmd"},
                timestamp=datetime.now(UTC),
                sync=True,
            )


def _texts(at: AppTest) -> list[str]:
    out = []
    for kind in ("markdown", "caption", "warning", "error", "info", "success"):
        out += [element.value for element in getattr(at, kind)]
    out += [m.label for m in at.metric]
    return out


@pytest.mark.sqlite_only
@pytest.mark.parametrize("page", [None, "providers", "costs", "requests"])
def test_names_are_literal_text_on_the_dashboard(metrics_db, page):
    _hostile_calls()
    st.cache_data.clear()
    at = AppTest.from_file(APP, default_timeout=60).run()
    if page:
        at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, at.exception
    texts = _texts(at)
    escaped = fmt.md(IMAGE)
    if page in (None, "providers"):
        assert any(escaped in t for t in texts)  # the provider's name is shown, escaped
    for text in texts:  # before: the name was an image from http://host and the model a link
        outside_code = re.sub(r"(`+).+?\1", "", text)  # code spans show their content literally
        assert "![b](http" not in outside_code and "[Sign in again](http" not in outside_code, text


def test_the_markdown_report_escapes_raw_html(metrics_db):
    _hostile_calls()
    text = reports.render_md(reports.monthly_report(datetime.now(UTC).date()))
    assert "<script>" not in text and "<img" not in text  # before: both passed through
    assert r"&lt;script&gt;alert(1)&lt;/script&gt; &lt;img src=x onerror=alert(2)&gt;" in text
    assert "![b](http" not in text and r"!\[b\](http://host/x.png)" in text


def _formula_cells(rows: list[list[str]]) -> list[str]:
    return [c for row in rows for c in row if c[:1] in ("=", "+", "@") or (c[:1] == "-" and not _number(c))]


def _number(text: str) -> bool:
    try:
        Decimal(text)
    except ArithmeticError:
        return False
    return True


def test_the_report_csv_has_no_formula_cells_and_numbers_stay_numbers(metrics_db):
    _hostile_calls()
    rows = list(csv.reader(io.StringIO(reports.render_csv(reports.monthly_report(datetime.now(UTC).date())))))
    assert _formula_cells(rows) == []  # before: the names, the model and the tag began with = + @
    cells = {c for row in rows for c in row}
    # provider names are stored in lower case; the key is team=@SUM...
    assert '\'=hyperlink("http://x")' in cells and "'@SUM(1+1)*cmd" not in cells
    assert "team='@SUM(1+1)*cmd" not in cells and "team=@SUM(1+1)*cmd" in cells  # starts with t: harmless
    savings = [r[3] for r in rows if r[0] == "total" and r[2] == "estimated_savings_usd"]
    assert _number(savings[0])  # money stays a plain number


def test_the_request_log_csv_has_no_formula_cells(metrics_db):
    _hostile_calls()
    rows = list(csv.reader(io.StringIO(data.log_csv({}).decode())))
    assert len(rows) == 5
    assert _formula_cells(rows) == []
    header = rows[0]
    by_model = {r[header.index("model")] for r in rows[1:]}
    assert by_model == {LINK, "'+cmd|' /C calc'!A0"}
    assert {r[header.index("prompt_tokens")] for r in rows[1:]} == {"10"}  # numbers stay numbers
