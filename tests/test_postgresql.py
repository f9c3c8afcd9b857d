"""The same code on SQLite and PostgreSQL: recording, rollups, day bucketing, migrations, CLI.

Every test here runs on both backends (see conftest.py); the PostgreSQL-specific ones say so.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

import metrics_core
from metrics_core import LLMMetricsService, queries, recording, storage
from metrics_core.cli import main as cli
from metrics_core.recording import batch, registry
from metrics_core.storage import rollups

ROOT = Path(__file__).resolve().parent.parent
MONEY_TOLERANCE = Decimal("1e-8")


def _close(got, want) -> bool:
    if isinstance(want, Decimal) or isinstance(got, Decimal):
        return abs(Decimal(str(got)) - Decimal(str(want))) <= MONEY_TOLERANCE
    if isinstance(want, float):
        return abs(got - want) <= 1e-6 * max(1.0, abs(want))
    return got == want


def rollup_mismatches(engine) -> list[str]:
    """Recompute every rollup (per model, per tag, latency histogram) from the raw rows with
    ``rollups.aggregate`` and list where the stored rollups differ."""
    r = storage.requests
    with engine.connect() as conn:
        raw = [dict(row._mapping) for row in conn.execute(sa.select(*[r.c[c] for c in rollups.ROW_COLUMNS]))]
        stored = {
            "llm_costs_daily": {
                (row.day, row.provider_id, row.model): tuple(row[m] for m in storage.DAILY_MEASURES)
                for row in conn.execute(sa.select(storage.costs_daily)).mappings()
            },
            "llm_tag_costs_daily": {
                (row.day, row.tag_key, row.tag_value, row.provider_id, row.model): tuple(
                    row[m] for m in storage.DAILY_MEASURES
                )
                for row in conn.execute(sa.select(storage.tag_costs_daily)).mappings()
            },
            "llm_latency_daily": {
                (row.day, row.provider_id, row.model, row.kind, row.bucket): (row["count"],)
                for row in conn.execute(sa.select(storage.latency_daily)).mappings()
            },
        }
    agg = rollups.aggregate(raw)
    expected = {
        "llm_costs_daily": agg.daily,
        "llm_tag_costs_daily": agg.tag_daily,
        "llm_latency_daily": {k: (v,) for k, v in agg.hist.items()},
    }
    problems = []
    for table, want_rows in expected.items():
        got_rows = stored[table]
        if set(want_rows) != set(got_rows):
            problems.append(f"{table}: keys differ: {sorted(set(want_rows) ^ set(got_rows))[:5]}")
        for key, want in want_rows.items():
            got = got_rows.get(key)
            if got is not None and not all(_close(g, w) for g, w in zip(got, want, strict=True)):
                problems.append(f"{table} {key}: stored {got!r}, raw rows say {want!r}")
    return problems


def test_backend_matches_url(engine, backend):
    assert engine.dialect.name == backend
    if backend == "postgresql":
        with engine.connect() as conn:
            assert conn.exec_driver_sql("show application_name").scalar() == "llm-metrics"


def test_savings_example(engine):
    """Issue 2's example, on either backend: 9 Ollama calls and 1 Claude call -> 90.0% savings."""
    for i in range(10):
        metrics_core.record_request(
            provider_name="claude" if i == 0 else "ollama",
            model="claude-sonnet-4-5",
            status="success",
            prompt_tokens=1000,
            completion_tokens=500,
            duration_seconds=1.0 + i / 10,
        )
    costs = LLMMetricsService.get_cost_summary(30)
    assert costs["total_cost_usd"] == pytest.approx(0.0105)
    assert costs["hypothetical_claude_cost_usd"] == pytest.approx(0.105)
    assert costs["estimated_savings_usd"] == pytest.approx(0.0945)
    assert costs["savings_percentage"] == pytest.approx(90.0)
    assert (costs["local_requests"], costs["remote_requests"]) == (9, 1)
    usage = LLMMetricsService.get_metrics(7)
    assert usage["total_requests"] == 10 and usage["success_rate"] == 100.0
    assert usage["p50_response_time_ms"] == pytest.approx(1400, rel=0.02)
    assert isinstance(usage["total_tokens"], int) and usage["total_tokens"] == 15_000
    providers = {p["name"]: p for p in LLMMetricsService.get_all_providers()}
    assert providers["ollama"]["total_requests"] == 9
    assert isinstance(providers["ollama"]["total_requests"], int)
    assert rollup_mismatches(engine) == []
    with engine.begin() as conn:  # the checker itself notices a rollup that drifted
        conn.execute(sa.update(storage.latency_daily).values(count=storage.latency_daily.c["count"] + 1))
    assert any("llm_latency_daily" in p for p in rollup_mismatches(engine))


def test_days_are_utc_days_whatever_the_session_time_zone(metrics_db, backend):
    """Calls just before and after UTC midnight land on their own UTC days, even when a PostgreSQL
    session runs in another time zone (columns are UTC without time zone, bucketed in Python)."""
    url = metrics_db
    if backend == "postgresql":
        url += "?options=-c%20timezone%3DAmerica%2FNew_York"
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    before_midnight = today - timedelta(microseconds=1)
    engine = storage.get_engine(url)
    items = [
        (
            "openai",
            "gpt-4o",
            "success",
            None,
            10,
            5,
            0,
            0,
            0,
            0.5,
            None,
            None,
            None,
            before_midnight,
            0.0,
            None,
            None,
            True,
        ),
        ("openai", "gpt-4o", "success", None, 10, 5, 0, 0, 0, 0.5, None, None, None, today, 0.0, None, None, True),
        (
            "openai",
            "gpt-4o",
            "failed",
            None,
            10,
            0,
            0,
            0,
            0,
            0.5,
            None,
            "x",
            None,
            today + timedelta(hours=23),
            0.0,
            None,
            None,
            True,
        ),
    ]
    batch.write_batch(engine, items, registry.ProviderCache(), {})
    if backend == "postgresql":
        with engine.connect() as conn:
            assert conn.exec_driver_sql("show timezone").scalar() == "America/New_York"
    daily = queries.trends(2, engine=engine)["daily"]
    assert [(d["date"], d["requests"], d["failed_requests"]) for d in daily] == [
        (before_midnight.date().isoformat(), 1, 0),
        (today.date().isoformat(), 2, 1),
    ]
    log = queries.request_log(engine=engine)
    assert log["timestamp"].iloc[-1] == before_midnight.replace(tzinfo=None)
    assert rollup_mismatches(engine) == []


def test_text_search_and_tags(engine):
    metrics_core.record_request(
        provider_name="openai",
        model="gpt-4o",
        status="failed",
        error_message="Upstream TIMEOUT after 30s",
        tags={"project": "search", "user": "ana"},
    )
    metrics_core.record_request(
        provider_name="openai", model="gpt-4o", status="success", tags={"project": "support_100%"}
    )
    assert len(queries.request_log(error_contains="timeout")) == 1
    assert len(queries.request_log(error_contains="%")) == 0  # LIKE wildcards are escaped
    assert len(queries.request_log(tag=("project", "search"))) == 1
    assert len(queries.request_log(tag=("project", "support_100%"))) == 1
    assert len(queries.request_log(tag=("project", "support_1000"))) == 0
    frame = queries.tag_costs(7, tag_key="project")
    assert sorted(frame["tag_value"]) == ["search", "support_100%"]


def test_nul_characters_are_refused_at_the_door_on_both_backends(engine, backend):
    """PostgreSQL text cannot hold NUL, and text is stored as given: a NUL is refused when recorded,
    the same on both backends (issue 12; before: kept on SQLite, silently U+FFFD on PostgreSQL)."""
    fields = {"model": "gpt\x00-4o", "error_message": "bad\x00byte", "endpoint": "/v1\x00", "tags": {"k": "v\x00"}}
    for field, value in fields.items():
        with pytest.raises(ValueError, match="must not contain a NUL character"):
            metrics_core.record_request(
                **{"provider_name": "openai", "model": "gpt-4o", "status": "failed", field: value}
            )
    metrics_core.record_request(provider_name="openai", model="gpt-4o", status="success")
    assert metrics_core.flush(10)
    assert recording.stats()["dropped"] == 0
    assert queries.request_log()["model"].tolist() == ["gpt-4o"]


def test_text_round_trips_exactly(engine):
    """Tabs, newlines, backslashes and a literal \\N survive the bulk insert (COPY on PostgreSQL)."""
    text = "tab\there\nnext line \\N \\. back\\slash 'q' \"dq\" é 日本"
    metrics_core.record_request(
        provider_name="openai",
        model="gpt-4o",
        status="failed",
        endpoint="\\N",
        error_message=text,
        tags={"k": text[:200]},
        sync=True,
    )
    row = queries.request_log().iloc[0]
    assert (row["error_message"], row["endpoint"], row["tags"]) == (text, "\\N", {"k": text[:200]})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"prompt_tokens": 10**13}, "prompt_tokens must be a whole number >= 0 and <= "),
        ({"completion_tokens": -1}, "completion_tokens must be a whole number >= 0"),
        ({"duration_seconds": 1e308}, "duration_seconds must be a finite number of seconds >= 0 and <="),
        ({"duration_seconds": float("inf")}, "duration_seconds must be a finite number of seconds >= 0 and <="),
        ({"time_to_first_token_seconds": 1e12}, "time_to_first_token_seconds must be a finite number of seconds"),
    ],
    ids=["huge-tokens", "negative", "huge-duration", "inf-duration", "huge-ttft"],
)
def test_values_that_would_overflow_storage_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        metrics_core.record_request(provider_name="openai", model="gpt-4o", status="success", **kwargs)


def test_cli_end_to_end(engine, capsys):
    assert cli(["migrate"]) == 0
    assert cli(["demo", "--days", "5", "--per-day", "40"]) == 0
    assert cli(["summary", "--days", "5"]) == 0
    assert cli(["providers", "disable", "openai"]) == 0
    assert cli(["rebuild-rollups"]) == 0
    assert cli(["price", "set", "--model", "acme-support-ft-v2", "--input", "1", "--output", "2"]) == 0
    assert cli(["reprice"]) == 0
    assert cli(["health"]) in (0, 1)
    out = capsys.readouterr().out
    assert "llm_requests" in out and "Repriced" in out and "Rebuilt the daily rollups" in out
    assert queries.cost_summary(5)["unpriced_requests"] == 0  # the override priced the fine-tune
    assert rollup_mismatches(engine) == []


def test_new_provider_ids_follow_the_defaults(engine):
    """Migration 0001 inserts the defaults with explicit ids; a new provider must not collide."""
    metrics_core.record_request(provider_name="mistral", model="mistral-large", status="success", sync=True)
    ids = {p["name"]: p["id"] for p in LLMMetricsService.get_all_providers()}
    assert ids == {"ollama": 1, "localai": 2, "claude": 3, "openai": 4, "mistral": 5}


def test_booleans_and_numbers_come_back_as_python_types(engine):
    metrics_core.record_request(
        provider_name="claude",
        model="claude-sonnet-4-5",
        status="success",
        prompt_tokens=100,
        completion_tokens=10,
        sync=True,
    )
    p = LLMMetricsService.set_provider_enabled(3, False)
    assert p["enabled"] is False and isinstance(p["total_cost_usd"], float)
    frame = queries.daily_frame(3)
    assert frame["cost_usd"].dtype == float and int(frame["requests"].sum()) == 1
    assert isinstance(queries.cost_summary(3)["total_cost_usd"], Decimal)


def test_concurrent_first_migrations(metrics_db):
    """Several processes starting at once on an empty database migrate it exactly once."""
    from metrics_core.storage.migrations import head_revision, table_counts, upgrade

    errors = []

    def run():
        engine = storage.create(metrics_db)
        try:
            upgrade(engine)
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    engine = storage.create(metrics_db)
    try:
        counts = dict(table_counts(engine))
        assert counts["llm_providers"] == 4 and counts["llm_provider_health"] == 4
        assert upgrade(engine) == (head_revision(), head_revision())
    finally:
        engine.dispose()


WORKER = textwrap.dedent(
    """
    import sys, time
    from datetime import UTC, datetime, timedelta
    import metrics_core

    worker, n = int(sys.argv[1]), int(sys.argv[2])
    start = datetime.now(UTC) - timedelta(days=2)
    for i in range(n):
        metrics_core.record_request(
            provider_name=("ollama", "claude", "openai", "brand-new")[i % 4],
            model=("llama3.2", "claude-sonnet-4-5", "gpt-4o", "mystery")[i % 4],
            status="success" if i % 7 else "failed",
            prompt_tokens=100 + i % 50, completion_tokens=20 + i % 10, cache_read_tokens=i % 3,
            duration_seconds=0.1 + (i % 13) / 10, time_to_first_token_seconds=0.05 if i % 2 else None,
            tags={"project": f"p{i % 3}", "worker": str(worker)},
            timestamp=start + timedelta(seconds=i * 40 + worker),
        )
        if i % 100 == 0:
            time.sleep(0.001)
    assert metrics_core.flush(60), "flush timed out"
    stats = metrics_core.recording.stats()
    assert stats["dropped"] == 0, stats
    print(stats["write_errors"])
    """
)


def test_eight_processes_record_concurrently_and_lose_nothing(engine, metrics_db, backend, tmp_path):
    """Eight processes (small batches, so many transactions overlap) record at once: every row
    lands, a provider that all of them register at the same moment exists once, and the daily
    rollup equals what the raw rows add up to."""
    per_process = 600
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {
        **os.environ,
        "LLM_METRICS_DB_URL": metrics_db,
        "LLM_METRICS_BATCH_SIZE": "25",
        "LLM_METRICS_FLUSH_INTERVAL": "0.02",
        "PYTHONPATH": str(ROOT),
    }
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(w), str(per_process)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(8)
    ]
    outputs = [p.communicate(timeout=240) for p in procs]
    for p, (_out, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err[-3000:]
    with engine.connect() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(storage.requests)).scalar_one()
        named = conn.execute(
            sa.select(sa.func.count()).select_from(storage.providers).where(storage.providers.c.name == "brand-new")
        ).scalar_one()
        rolled = conn.execute(sa.select(sa.func.sum(storage.costs_daily.c.requests))).scalar_one()
    print("write errors per process:", [out.strip() for out, _ in outputs])
    assert total == 8 * per_process
    assert int(rolled) == total
    assert named == 1
    assert rollup_mismatches(engine) == []
    assert (
        queries.metrics(window=queries.Window.last(4))["total_requests"]  # UTC days, not the local date.today()
        == total
    )


@pytest.mark.sqlite_only
def test_sqlite_uses_wal(engine, metrics_db):
    """SQLite-only by nature: the database file runs in WAL mode."""
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    assert Path(metrics_db.removeprefix("sqlite:///")).exists()


@pytest.mark.postgresql_only
def test_migrations_hold_an_advisory_lock(engine):
    """The upgrade runs under a transaction-scoped advisory lock (released at commit)."""
    from metrics_core.storage.migrations import upgrade

    upgrade(engine)
    with engine.connect() as conn:
        held = conn.exec_driver_sql("select count(*) from pg_locks where locktype = 'advisory'").scalar()
    assert held == 0


@pytest.mark.postgresql_only
def test_url_encoded_passwords_work(metrics_db):
    """Managed servers hand out passwords with '@', '%', ':'; URL-encoded, they must survive Alembic's
    config file syntax (the test server trusts every password, so any will do)."""
    url = sa.engine.make_url(metrics_db).set(password="p@ss%w:rd")
    text_url = url.render_as_string(hide_password=False)
    assert "%40" in text_url and "%25" in text_url
    engine = storage.get_engine(text_url)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(storage.providers)).scalar_one() == 4
