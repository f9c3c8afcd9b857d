"""Budgets and alert history.

Why: spend needs limits (per provider, model or tag; daily, weekly or monthly; soft = alert only,
hard = enforced by ``check_budget`` and ``pick_provider``), and alerts must fire once per rule,
threshold and period across every process that evaluates them, so each fired alert is a row whose
``dedup_key`` is unique: the first process to insert it delivers it, the others see the conflict.
The row also keeps the delivery outcome, so a failing channel is retried and shown in the dashboard.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(20, 10)


def upgrade() -> None:
    op.create_table(
        "llm_budgets",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("scope", sa.String(10), nullable=False),
        sa.Column("scope_key", sa.String(100)),
        sa.Column("scope_value", sa.String(200)),
        sa.Column("amount_usd", MONEY, nullable=False),
        sa.Column("period", sa.String(10), nullable=False),
        sa.Column("thresholds", sa.String(100), nullable=False),
        sa.Column("hard", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "llm_alert_history",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("dedup_key", sa.String(300), nullable=False, unique=True),
        sa.Column("rule", sa.String(30), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("period", sa.String(30), nullable=False),
        sa.Column("threshold", sa.Float),
        sa.Column("value", sa.Float),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("fired_at", sa.DateTime, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("claimed_at", sa.DateTime),
        sa.Column("pending_channels", sa.Text),
        sa.Column("delivered_at", sa.DateTime),
        sa.Column("last_error", sa.Text),
    )
    op.create_index("ix_llm_alert_history_fired_at", "llm_alert_history", ["fired_at"])


def downgrade() -> None:
    op.drop_index("ix_llm_alert_history_fired_at", table_name="llm_alert_history")
    op.drop_table("llm_alert_history")
    op.drop_table("llm_budgets")
