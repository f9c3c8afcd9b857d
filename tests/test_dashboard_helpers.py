"""The dashboard's small helpers: number formatting, the password check, the CSV export."""

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from dashboard import auth, data
from metrics_core import formatting as fmt
from metrics_core import queries, record_request


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("1234.5"), "$1,234.50"),
        (0.0042, "$0.0042"),
        (0, "$0.00"),
        (-3.5, "-$3.50"),
        (None, "—"),
        (float("nan"), "—"),
    ],
)
def test_money(value, expected):
    assert fmt.money(value) == expected


@pytest.mark.parametrize(
    ("args", "kwargs", "expected"),
    [
        ((110, 100), {}, "+10 (+10.0%)"),
        ((90, 100), {}, "-10 (-10.0%)"),
        ((5, 0), {}, "+5"),
        ((Decimal("12.5"), Decimal("10")), {"kind": "money"}, "+$2.50 (+25.0%)"),
        ((8, 10), {"kind": "money"}, "-$2.00 (-20.0%)"),
        ((96.5, 98.0), {"kind": "points"}, "-1.5 pp"),
        ((1035.0, 1000.0), {"kind": "ms"}, "+35 ms (+3.5%)"),
        ((None, 3), {}, None),
    ],
)
def test_delta(args, kwargs, expected):
    assert fmt.delta(*args, **kwargs) == expected


def test_other_formats():
    assert (fmt.count(1234567), fmt.compact(1234567), fmt.compact(950), fmt.pct(97.345)) == (
        "1,234,567",
        "1.2M",
        "950",
        "97.3%",
    )
    assert (fmt.ms(850.4), fmt.ms(12_345), fmt.ms(None)) == ("850 ms", "12.3 s", "—")


def test_password_check_is_exact():
    assert auth.check("pässword", "pässword")
    assert not auth.check("password", "pässword")
    assert not auth.check("", "x")


def test_csv_export_holds_every_filtered_row_in_pages(monkeypatch):
    now = datetime.now(UTC)
    for i in range(25):
        record_request(
            provider_name="claude" if i % 5 == 0 else "ollama",
            model="m",
            status="success",
            prompt_tokens=i,
            tags={"project": "a,b"},
            timestamp=now - timedelta(minutes=i),
            sync=True,
        )
    queries_calls = []
    real = queries.request_log

    def spy(**kwargs):
        queries_calls.append(kwargs["limit"])
        return real(**kwargs)

    monkeypatch.setattr(queries, "request_log", spy)
    monkeypatch.setattr(data, "CSV_PAGE_ROWS", 10)
    rows = list(csv.DictReader(io.StringIO(data.log_csv({"providers": ("ollama",)}).decode())))
    assert len(rows) == 20 and {r["provider"] for r in rows} == {"ollama"}
    assert [int(r["prompt_tokens"]) for r in rows] == [i for i in range(25) if i % 5]  # newest first
    assert rows[0]["tags"] == "project=a,b"
    assert queries_calls == [10, 10, 10]
    assert len(list(csv.DictReader(io.StringIO(data.log_csv({}, limit=7).decode())))) == 7


def test_budgets_at_risk_come_from_the_budgets_module_when_there_is_one(monkeypatch):
    import importlib.machinery
    import sys
    import types

    from dashboard import widgets

    class Status:
        def __init__(self, **values):
            self.values = values

        def as_dict(self):
            return self.values

    common = {"scope": "all", "period_label": "November 2026", "amount_usd": 100.0}
    fake = types.ModuleType("metrics_core.budgets")
    fake.__spec__ = importlib.machinery.ModuleSpec("metrics_core.budgets", None)
    fake.statuses = lambda: [
        Status(name="team", state="ok", spent_usd=10.0, percent=10.0, projected_usd=30.0, **common),
        Status(name="search", state="warning", spent_usd=85.0, percent=85.0, projected_usd=120.0, **common),
        Status(name="support", state="over", spent_usd=101.0, percent=101.0, projected_usd=150.0, **common),
    ]
    monkeypatch.setitem(sys.modules, "metrics_core.budgets", fake)
    items = widgets.budgets_at_risk()
    assert [(i.level, i.text.split("**")[1]) for i in items] == [
        ("warning", "Budget search"),
        ("error", "Budget support"),
    ]
    assert "$85.00 of $100.00 (85.0%) used, $120.00 projected" in items[0].text
