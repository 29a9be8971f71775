"""one user's updates in order across processes: the newest update a session was
stored for, and the sender and time of a WhatsApp inbox row

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("last_update", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("whatsapp_inbox") as batch:
        batch.add_column(sa.Column("sender", sa.String(32), nullable=True))
        batch.add_column(sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_whatsapp_inbox_sender", "whatsapp_inbox", ["sender", "status"])


def downgrade() -> None:
    op.drop_index("ix_whatsapp_inbox_sender", table_name="whatsapp_inbox")
    with op.batch_alter_table("whatsapp_inbox") as batch:
        batch.drop_column("sent_at")
        batch.drop_column("sender")
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("last_update")
