"""Migrations: a fresh database gets the whole schema and the default providers; upgrades are idempotent."""

import pytest
from sqlalchemy import inspect, text

from metrics_core import storage
from metrics_core.errors import DatabaseUnavailable, SchemaTooNew
from metrics_core.storage.migrations import head_revision, table_counts, upgrade

EXPECTED_TABLES = {
    "llm_providers",
    "llm_provider_health",
    "llm_requests",
    "llm_costs_daily",
    "llm_tag_costs_daily",
    "llm_latency_daily",
    "llm_circuit_events",
    "llm_price_overrides",
    "llm_recorder_faults",
    "llm_budgets",
    "llm_alert_history",
}


def test_fresh_database_matches_the_declared_schema(metrics_db):
    engine = storage.create(metrics_db)
    assert upgrade(engine) == (None, head_revision())
    inspector = inspect(engine)
    tables = set(inspector.get_table_names()) - {"alembic_version"}
    assert tables >= EXPECTED_TABLES
    assert tables == set(storage.metadata.tables)
    for name, table in storage.metadata.tables.items():
        migrated = {c["name"]: c for c in inspector.get_columns(name)}
        assert list(migrated) == [c.name for c in table.columns], name
        for column in table.columns:
            assert migrated[column.name]["nullable"] == column.nullable, (name, column.name)
        assert inspector.get_pk_constraint(name)["constrained_columns"] == [c.name for c in table.primary_key]


def test_default_providers_each_with_a_health_row(metrics_db):
    engine = storage.create(metrics_db)
    upgrade(engine)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT p.id, p.name, p.display_name, p.provider_type, p.priority, p.enabled, h.circuit_state, "
                "h.failure_count, h.is_available FROM llm_providers p "
                "JOIN llm_provider_health h ON h.provider_id = p.id "
                "ORDER BY p.id"
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        (1, "ollama", "Ollama (Local)", "local", 1, True, "closed", 0, True),
        (2, "localai", "LocalAI", "local", 2, True, "closed", 0, True),
        (3, "claude", "Claude (Anthropic)", "remote", 3, True, "closed", 0, True),
        (4, "openai", "OpenAI GPT-4", "remote", 4, True, "closed", 0, True),
    ]


def test_migrating_again_changes_nothing(metrics_db):
    engine = storage.create(metrics_db)
    upgrade(engine)
    before = table_counts(engine)
    assert upgrade(engine) == (head_revision(), head_revision())
    assert upgrade(engine) == (head_revision(), head_revision())
    assert table_counts(engine) == before
    assert dict(before)["llm_providers"] == 4


def test_a_database_from_a_newer_version_is_refused(metrics_db):
    engine = storage.create(metrics_db)
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(SchemaTooNew, match=r"'9999'.*upgrade llm-metrics"):
        upgrade(engine)


@pytest.mark.sqlite_only  # about SQLite file paths
def test_first_use_creates_the_folder_and_the_schema(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'nested' / 'dir' / 'metrics.db'}"
    monkeypatch.setenv("LLM_METRICS_DB_URL", url)
    engine = storage.get_engine()
    assert (tmp_path / "nested" / "dir" / "metrics.db").exists()
    assert dict(table_counts(engine))["llm_provider_health"] == 4


def test_a_file_that_is_not_a_database_is_unavailable(tmp_path):
    bad = tmp_path / "notes.db"
    bad.write_bytes(b"not a database, just text " * 50)
    with pytest.raises(DatabaseUnavailable, match="file is not a database"):
        upgrade(storage.create(f"sqlite:///{bad}"))
