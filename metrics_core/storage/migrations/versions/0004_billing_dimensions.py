"""Billing dimensions and price data: service tier and usage details per call, stored price data.

Why: a bill has dimensions the token counts do not carry (one-hour cache writes, audio and image
tokens, web searches, code executions, the service tier that served the call). ``llm_requests``
gets ``service_tier`` (default, priority, flex, batch; NULL = not said, priced as default),
``usage_details`` (a JSON object of genai-prices usage names -> whole numbers; NULL = none) and
``usage_known`` (false when the caller did not know the usage: such a call is unpriced, and stays
so when repriced). ``llm_price_data`` holds genai-prices data files loaded with
``llm-metrics prices update``: every process of the database prices with the newest one.

Provider names became case-insensitive (stored in lower case): a provider registered before with
capitals is renamed to lower case, unless that name is taken (then it keeps its name and its calls;
new calls go to the lower-case provider).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("llm_requests") as batch:
        batch.add_column(sa.Column("service_tier", sa.String(20)))
        batch.add_column(sa.Column("usage_details", sa.Text))
        batch.add_column(sa.Column("usage_known", sa.Boolean, nullable=False, server_default=sa.true()))
    op.create_table(
        "llm_price_data",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("stored_at", sa.DateTime, nullable=False),
        sa.Column("source", sa.String(1000), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("models", sa.Integer, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
    )

    providers = sa.table("llm_providers", sa.column("id", sa.Integer), sa.column("name", sa.String))
    conn = op.get_bind()
    names = {row.name: row.id for row in conn.execute(sa.select(providers.c.id, providers.c.name))}
    for name, pid in sorted(names.items()):
        if name != name.lower() and name.lower() not in names:
            conn.execute(providers.update().where(providers.c.id == pid).values(name=name.lower()))
            names[name.lower()] = pid


def downgrade() -> None:
    op.drop_table("llm_price_data")
    with op.batch_alter_table("llm_requests") as batch:
        batch.drop_column("usage_known")
        batch.drop_column("usage_details")
        batch.drop_column("service_tier")
