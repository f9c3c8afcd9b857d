"""Revision 0004: service tier, usage details and usage_known on llm_requests, llm_price_data, and
provider names in lower case (calls recorded before keep their figures)."""

from __future__ import annotations

from datetime import datetime

from alembic import command
from sqlalchemy import inspect, text

from metrics_core import storage
from metrics_core.storage.migrations import alembic_config, upgrade


def test_upgrade_from_0003_lowers_provider_names_and_keeps_rows(metrics_db):
    engine = storage.create(metrics_db)
    with engine.begin() as conn:
        cfg = alembic_config(engine)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0003")
        now = datetime(2026, 11, 1)
        for name in ("MyCloud", "Ollama"):  # Ollama clashes with the default ollama: it keeps its name
            conn.execute(
                text(
                    "INSERT INTO llm_providers (name, display_name, provider_type, priority, enabled, created_at) "
                    "VALUES (:n, :n, 'remote', 9, true, :t)"
                ),
                {"n": name, "t": now},
            )
        conn.execute(
            text(
                "INSERT INTO llm_requests (timestamp, provider_id, model, status, prompt_tokens, completion_tokens, "
                "cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_usd, price_source) "
                "VALUES (:t, (SELECT id FROM llm_providers WHERE name = 'MyCloud'), 'm', 'success', 10, 5, 0, 0, 0, "
                "0.5, 'genai-prices')"
            ),
            {"t": now},
        )
    upgrade(engine)
    with engine.connect() as conn:
        names = conn.execute(text("SELECT name, display_name FROM llm_providers ORDER BY id")).all()
        row = conn.execute(text("SELECT service_tier, usage_details, usage_known, cost_usd FROM llm_requests")).one()
    assert [tuple(n) for n in names] == [
        ("ollama", "Ollama (Local)"),
        ("localai", "LocalAI"),
        ("claude", "Claude (Anthropic)"),
        ("openai", "OpenAI GPT-4"),
        ("mycloud", "MyCloud"),
        ("Ollama", "Ollama"),
    ]
    assert (row[0], row[1], bool(row[2]), float(row[3])) == (None, None, True, 0.5)
    columns = [c["name"] for c in inspect(engine).get_columns("llm_requests")]
    assert columns[-3:] == ["service_tier", "usage_details", "usage_known"]
    assert "llm_price_data" in inspect(engine).get_table_names()
