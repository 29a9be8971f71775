"""one durable queue: reminders and broadcast deliveries get the queue's columns
(next attempt, lease owner and expiry, last error)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    # A claim's time becomes its lease's expiry: rows claimed before the upgrade are
    # free to take at once (their process is gone).
    with op.batch_alter_table("reminders") as reminders:
        reminders.add_column(sa.Column("next_attempt_at", TS, nullable=True))
        reminders.alter_column("claimed_by", new_column_name="lease_owner",
                               existing_type=sa.String(64))
        reminders.alter_column("claimed_at", new_column_name="lease_expires_at",
                               existing_type=TS)
        reminders.alter_column("last_error", type_=sa.String(500),
                               existing_type=sa.String(300))
    with op.batch_alter_table("broadcast_deliveries") as deliveries:
        deliveries.alter_column("claimed_by", new_column_name="lease_owner",
                                existing_type=sa.String(64))
        deliveries.alter_column("claimed_at", new_column_name="lease_expires_at",
                                existing_type=TS)
        deliveries.alter_column("error", new_column_name="last_error", type_=sa.String(500),
                                existing_type=sa.String(300))


def downgrade() -> None:
    for table in ("reminders", "broadcast_deliveries"):
        op.execute(sa.text(f"UPDATE {table} SET last_error = substr(last_error, 1, 300) "
                           "WHERE length(last_error) > 300"))
    with op.batch_alter_table("broadcast_deliveries") as deliveries:
        deliveries.alter_column("last_error", new_column_name="error", type_=sa.String(300),
                                existing_type=sa.String(500))
        deliveries.alter_column("lease_expires_at", new_column_name="claimed_at",
                                existing_type=TS)
        deliveries.alter_column("lease_owner", new_column_name="claimed_by",
                                existing_type=sa.String(64))
    with op.batch_alter_table("reminders") as reminders:
        reminders.alter_column("last_error", type_=sa.String(300),
                               existing_type=sa.String(500))
        reminders.alter_column("lease_expires_at", new_column_name="claimed_at",
                               existing_type=TS)
        reminders.alter_column("lease_owner", new_column_name="claimed_by",
                               existing_type=sa.String(64))
        reminders.drop_column("next_attempt_at")
