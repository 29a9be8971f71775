"""one durable queue: the WhatsApp inbox gets the queue's columns (next attempt,
lease owner and expiry)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    # A claim's time becomes its lease's expiry: rows claimed before the upgrade are
    # free to take at once (their process is gone).
    with op.batch_alter_table("whatsapp_inbox") as inbox:
        inbox.add_column(sa.Column("next_attempt_at", TS, nullable=True))
        inbox.add_column(sa.Column("lease_owner", sa.String(64), nullable=True))
        inbox.alter_column("claimed_at", new_column_name="lease_expires_at",
                           existing_type=TS)


def downgrade() -> None:
    with op.batch_alter_table("whatsapp_inbox") as inbox:
        inbox.alter_column("lease_expires_at", new_column_name="claimed_at",
                           existing_type=TS)
        inbox.drop_column("lease_owner")
        inbox.drop_column("next_attempt_at")
