"""Budget holds: the worst-case cost of calls in flight, held against hard budgets.

Why: a budget checked before a call and charged after it lets concurrent calls overshoot a hard
limit. ``metrics_core.reserve`` holds each call's worst-case cost here (one row per covered hard
budget) in the same locked transaction that checks the budget, and deletes the rows once the
call's actual cost is in the rollups. A row whose process died stops counting at ``expires_at``
(``LLM_METRICS_RESERVATION_TTL``) and stays, counted as an expired hold, for the Budgets page.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(20, 10)


def upgrade() -> None:
    op.create_table(
        "llm_budget_holds",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("reservation", sa.String(32), nullable=False),
        sa.Column("budget_id", sa.Integer),
        sa.Column("amount_usd", MONEY, nullable=False),
        sa.Column("provider_name", sa.String(100), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("tags", sa.Text),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_llm_budget_holds_budget_expires", "llm_budget_holds", ["budget_id", "expires_at"])
    op.create_index("ix_llm_budget_holds_reservation", "llm_budget_holds", ["reservation"])


def downgrade() -> None:
    op.drop_index("ix_llm_budget_holds_reservation", table_name="llm_budget_holds")
    op.drop_index("ix_llm_budget_holds_budget_expires", table_name="llm_budget_holds")
    op.drop_table("llm_budget_holds")
