"""Budgets, alerts and reports on PostgreSQL: the same code as on SQLite (upserts, dedup, Decimal sums)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from pg_server import pg_url_fixture  # noqa: F401  (provides ``pg_url``)
from test_alerts import Receiver

import metrics_core
from metrics_core import alerts, budgets, queries, recording, reports, storage
from metrics_core.alerts import AlertSettings

pytestmark = pytest.mark.postgresql_only  # these make their own PostgreSQL databases


@pytest.fixture
def pg_engine(pg_url, monkeypatch):
    name = f"budgets_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = pg_url.rsplit("/", 1)[0] + f"/{name}"
    monkeypatch.setenv("LLM_METRICS_DB_URL", url)
    recording.reset(flush_first=False)
    storage.dispose_all()
    yield storage.get_engine(url)
    recording.reset()
    storage.dispose_all()
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def test_budgets_alerts_and_report_on_postgres(pg_engine, monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    now = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0) - timedelta(days=1)
    for i in range(4):
        metrics_core.record_request(
            provider_name="claude",
            model="claude-sonnet-4-5",
            status="success",
            prompt_tokens=1000,
            completion_tokens=500,
            tags={"project": "search"},
            timestamp=now - timedelta(minutes=i),
        )
    metrics_core.flush()
    budgets.set_budget(
        name="search", amount_usd="0.04", scope="tag:project=search", period="daily", hard=True, engine=pg_engine
    )
    st = budgets.statuses(now=now, engine=pg_engine)[0]
    assert st.spent == Decimal("0.042") and st.crossed == (50, 80, 100)
    with pytest.raises(metrics_core.BudgetExceeded):
        metrics_core.check_budget(provider="claude", tags={"project": "search"}, now=now)
    receiver = Receiver(fail_first=1)
    try:
        cfg = AlertSettings(urls=(receiver.url,), disabled_rules=frozenset({"projected_overrun"}), retries=1)
        first = alerts.check(now=now, settings=cfg, engine=pg_engine)
        assert len(first.fired) == 3 and len(first.failures) == 1 and first.delivered == 2
        second = alerts.check(now=now, settings=cfg, engine=pg_engine)
        assert second.fired == [] and second.delivered == 1
        assert len(receiver.bodies) == 3
        assert set(alerts.history(engine=pg_engine)["status"]) == {"sent"}
    finally:
        receiver.close()
    month = queries.Window(now.date().replace(day=1), budgets.period_bounds("monthly", now.date())[1])
    report = reports.monthly_report(now.date(), now=now, engine=pg_engine)
    assert report.costs["total_cost_usd"] == queries.cost_summary(window=month, engine=pg_engine)["total_cost_usd"]
    assert "Total spend" in reports.render_md(report)
