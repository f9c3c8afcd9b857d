"""API tokens: bearer tokens for the HTTP API (``llm-metrics token create``).

Why: services in other languages record through ``llm-metrics serve``; every endpoint but the
liveness probe needs a token. Only a SHA-256 hash of each token is stored (the token is shown once,
when created), with a short prefix to recognise it, a scope (``read`` or ``write``) and the times it
was created, last used and revoked (revoked tokens are kept for the audit trail).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "llm_api_tokens",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("scope", sa.String(10), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("last_used_at", sa.DateTime),
        sa.Column("revoked_at", sa.DateTime),
    )
    op.create_index("ix_llm_api_tokens_name", "llm_api_tokens", ["name"])


def downgrade() -> None:
    op.drop_index("ix_llm_api_tokens_name", table_name="llm_api_tokens")
    op.drop_table("llm_api_tokens")
