"""reminders sent at most once: the intent before the request, the message id after;
a person's reminders found by their registration

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reminders") as batch:
        batch.add_column(sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("message_id", sa.String(255), nullable=True))
    op.create_index("ix_reminders_registration", "reminders", ["registration_id"])


def downgrade() -> None:
    op.drop_index("ix_reminders_registration", table_name="reminders")
    with op.batch_alter_table("reminders") as batch:
        batch.drop_column("message_id")
        batch.drop_column("attempted_at")
