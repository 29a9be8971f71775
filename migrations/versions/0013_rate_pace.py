"""the shared rate buckets' pace: slower after a 429, climbing back slowly

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rate_buckets") as batch:
        batch.add_column(sa.Column("factor", sa.Float(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("ceiling", sa.Float(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("calm", sa.Float(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("rate_buckets") as batch:
        batch.drop_column("calm")
        batch.drop_column("ceiling")
        batch.drop_column("factor")
