"""Initial schema: the guide's four tables, rollups, circuit history, price overrides, faults.

Why: the original service kept providers, health, raw requests and a daily cost table. We keep those
names and shapes, add the columns correct pricing needs (cache and reasoning tokens, reference cost,
NULL = unpriced), a per-tag and a latency-histogram rollup so dashboards never scan raw rows, the
circuit transitions for availability timelines, and the four default providers.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

MONEY = sa.Numeric(20, 10)


def _measures():
    big = [
        "requests",
        "successful_requests",
        "failed_requests",
        "prompt_tokens",
        "completion_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "reasoning_tokens",
    ]
    cols = [sa.Column(n, sa.BigInteger, nullable=False, server_default="0") for n in big]
    cols += [
        sa.Column("cost_usd", MONEY, nullable=False, server_default="0"),
        sa.Column("reference_cost_usd", MONEY, nullable=False, server_default="0"),
        sa.Column("priced_reference_cost_usd", MONEY, nullable=False, server_default="0"),
        sa.Column("unpriced_requests", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("duration_count", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("duration_sum_ms", sa.Float, nullable=False, server_default="0"),
        sa.Column("ttft_count", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("ttft_sum_ms", sa.Float, nullable=False, server_default="0"),
    ]
    return cols


def upgrade() -> None:
    providers = op.create_table(
        "llm_providers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("provider_type", sa.String(10), nullable=False),
        sa.Column("pricing_provider", sa.String(100)),
        sa.Column("priority", sa.Integer, nullable=False, server_default="100"),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    health = op.create_table(
        "llm_provider_health",
        sa.Column("provider_id", sa.Integer, sa.ForeignKey("llm_providers.id"), primary_key=True),
        sa.Column("is_available", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("circuit_state", sa.String(10), nullable=False, server_default="closed"),
        sa.Column("failure_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_success_at", sa.DateTime),
        sa.Column("last_failure_at", sa.DateTime),
        sa.Column("opened_at", sa.DateTime),
        sa.Column("updated_at", sa.DateTime),
    )
    op.create_table(
        "llm_requests",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("timestamp", sa.DateTime, nullable=False),
        sa.Column("provider_id", sa.Integer, sa.ForeignKey("llm_providers.id"), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("endpoint", sa.String(500)),
        sa.Column("prompt_tokens", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("completion_tokens", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("cache_read_tokens", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("cache_write_tokens", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("reasoning_tokens", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("duration_ms", sa.Float),
        sa.Column("ttft_ms", sa.Float),
        sa.Column("cost_usd", MONEY),
        sa.Column("reference_cost_usd", MONEY),
        sa.Column("price_source", sa.String(50)),
        sa.Column("error_message", sa.Text),
        sa.Column("tags", sa.Text),
    )
    op.create_index("ix_llm_requests_timestamp", "llm_requests", ["timestamp"])
    op.create_index("ix_llm_requests_provider_timestamp", "llm_requests", ["provider_id", "timestamp"])
    op.create_table(
        "llm_costs_daily",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("provider_id", sa.Integer, sa.ForeignKey("llm_providers.id"), primary_key=True),
        sa.Column("model", sa.String(200), primary_key=True),
        *_measures(),
    )
    op.create_table(
        "llm_tag_costs_daily",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("tag_key", sa.String(100), primary_key=True),
        sa.Column("tag_value", sa.String(200), primary_key=True),
        sa.Column("provider_id", sa.Integer, sa.ForeignKey("llm_providers.id"), primary_key=True),
        sa.Column("model", sa.String(200), primary_key=True),
        *_measures(),
    )
    op.create_table(
        "llm_latency_daily",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("provider_id", sa.Integer, sa.ForeignKey("llm_providers.id"), primary_key=True),
        sa.Column("model", sa.String(200), primary_key=True),
        sa.Column("kind", sa.String(10), primary_key=True),
        sa.Column("bucket", sa.Integer, primary_key=True),
        sa.Column("count", sa.BigInteger, nullable=False, server_default="0"),
    )
    op.create_table(
        "llm_circuit_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("provider_id", sa.Integer, sa.ForeignKey("llm_providers.id"), nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("from_state", sa.String(10), nullable=False),
        sa.Column("to_state", sa.String(10), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
    )
    op.create_index("ix_llm_circuit_events_provider_at", "llm_circuit_events", ["provider_id", "at"])
    op.create_table(
        "llm_price_overrides",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("provider_name", sa.String(100), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("input_mtok", MONEY, nullable=False),
        sa.Column("output_mtok", MONEY, nullable=False),
        sa.Column("cache_read_mtok", MONEY),
        sa.Column("cache_write_mtok", MONEY),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "llm_recorder_faults",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("process", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.Column("detail", sa.Text),
    )

    now = datetime.now(UTC).replace(tzinfo=None)
    defaults = [
        (1, "ollama", "Ollama (Local)", "local", None, 1),
        (2, "localai", "LocalAI", "local", None, 2),
        (3, "claude", "Claude (Anthropic)", "remote", "anthropic", 3),
        (4, "openai", "OpenAI GPT-4", "remote", "openai", 4),
    ]
    op.bulk_insert(
        providers,
        [
            dict(
                id=i,
                name=n,
                display_name=d,
                provider_type=t,
                pricing_provider=p,
                priority=pr,
                enabled=True,
                created_at=now,
            )
            for i, n, d, t, p, pr in defaults
        ],
    )
    op.bulk_insert(
        health,
        [
            dict(provider_id=i, is_available=True, circuit_state="closed", failure_count=0, updated_at=now)
            for i, *_ in defaults
        ],
    )
    if op.get_bind().dialect.name == "postgresql":  # explicit ids above: move the sequence on
        op.execute("SELECT setval('llm_providers_id_seq', (SELECT max(id) FROM llm_providers))")


def downgrade() -> None:
    for name in (
        "llm_recorder_faults",
        "llm_price_overrides",
        "llm_circuit_events",
        "llm_latency_daily",
        "llm_tag_costs_daily",
        "llm_costs_daily",
        "llm_requests",
        "llm_provider_health",
        "llm_providers",
    ):
        op.drop_table(name)
