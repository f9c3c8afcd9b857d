"""Billed figures: what OpenAI and Anthropic billed, per UTC day and model (``llm-metrics reconcile``).

Why: recorded costs are estimates until they meet the invoice. ``llm_billed_days`` lists the days
pulled whole from a provider's usage and cost reports (a day may have no billed rows: the provider
billed nothing); ``llm_billed_daily`` holds their rows, one per billed model (with the recorded name
it matches) or per other line item (tool fees, models without usage rows). A pull replaces its days
whole in one transaction, so re-running never duplicates and a failed pull changes nothing.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "llm_billed_days",
        sa.Column("provider", sa.String(20), primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("pulled_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "llm_billed_daily",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("provider", sa.String(20), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("billed_model", sa.String(300), nullable=False),
        sa.Column("recorded_model", sa.String(200)),
        sa.Column("input_tokens", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("cached_input_tokens", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("cache_write_tokens", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("output_tokens", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("requests", sa.BigInteger),
        sa.Column("cost_usd", sa.Numeric(20, 10)),
        sa.Column("pulled_at", sa.DateTime, nullable=False),
    )
    op.create_index(
        "ux_llm_billed_daily_line", "llm_billed_daily", ["provider", "day", "kind", "billed_model"], unique=True
    )


def downgrade() -> None:
    op.drop_index("ux_llm_billed_daily_line", table_name="llm_billed_daily")
    op.drop_table("llm_billed_daily")
    op.drop_table("llm_billed_days")
