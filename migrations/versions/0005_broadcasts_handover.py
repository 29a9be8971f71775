"""announcements and questions to a human: broadcasts, deliveries, handover threads;
users' announcement opt-out and country

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("users") as users:
        users.add_column(sa.Column("announcements", sa.Boolean(), nullable=False,
                                   server_default=sa.true()))
        users.add_column(sa.Column("country", sa.String(2), nullable=True))
    op.create_table(
        "broadcasts",
        sa.Column("id", ID, primary_key=True),
        sa.Column("created_by", ID, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("texts", sa.JSON(), nullable=False),
        sa.Column("attachment_kind", sa.String(16), nullable=True),
        sa.Column("attachment_name", sa.String(200), nullable=True),
        sa.Column("attachment_mime", sa.String(100), nullable=True),
        sa.Column("attachment_data", sa.LargeBinary(), nullable=True),
        sa.Column("button_labels", sa.JSON(), nullable=True),
        sa.Column("button_url", sa.String(500), nullable=True),
        sa.Column("audience", sa.JSON(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("scheduled_at", TS, nullable=True),
        sa.Column("started_at", TS, nullable=True),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("cancelled_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_index("ix_broadcasts_status_scheduled", "broadcasts", ["status", "scheduled_at"])
    op.create_table(
        "broadcast_deliveries",
        sa.Column("id", ID, primary_key=True),
        sa.Column("broadcast_id", ID, sa.ForeignKey("broadcasts.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("user_id", ID, sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("external_id", sa.String(64), nullable=True),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TS, nullable=True),
        sa.Column("claimed_by", sa.String(64), nullable=True),
        sa.Column("claimed_at", TS, nullable=True),
        sa.Column("sent_at", TS, nullable=True),
        sa.Column("error", sa.String(300), nullable=True),
        sa.Column("message_id", sa.String(255), nullable=True),
        sa.UniqueConstraint("broadcast_id", "user_id", name="uq_broadcast_deliveries_user"),
    )
    op.create_index("ix_broadcast_deliveries_work", "broadcast_deliveries",
                    ["status", "next_attempt_at"])
    op.create_index("ix_broadcast_deliveries_broadcast", "broadcast_deliveries",
                    ["broadcast_id", "status"])
    op.create_index("ix_broadcast_deliveries_message_id", "broadcast_deliveries",
                    ["message_id"])
    op.create_table(
        "handover_threads",
        sa.Column("id", ID, primary_key=True),
        sa.Column("user_id", ID, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("coordinator_id", ID, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("closed_at", TS, nullable=True),
        sa.Column("closed_by", ID, nullable=True),
    )
    op.create_index("ix_handover_threads_user_status", "handover_threads",
                    ["user_id", "status"])
    op.create_table(
        "handover_messages",
        sa.Column("id", ID, primary_key=True),
        sa.Column("thread_id", ID, sa.ForeignKey("handover_threads.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("attachment_kind", sa.String(16), nullable=True),
        sa.Column("group_chat_id", sa.BigInteger(), nullable=True),
        sa.Column("group_message_id", sa.BigInteger(), nullable=True),
        sa.Column("author_id", ID, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("group_chat_id", "group_message_id",
                            name="uq_handover_group_message"),
    )


def downgrade() -> None:
    op.drop_table("handover_messages")
    op.drop_index("ix_handover_threads_user_status", table_name="handover_threads")
    op.drop_table("handover_threads")
    op.drop_index("ix_broadcast_deliveries_message_id", table_name="broadcast_deliveries")
    op.drop_index("ix_broadcast_deliveries_broadcast", table_name="broadcast_deliveries")
    op.drop_index("ix_broadcast_deliveries_work", table_name="broadcast_deliveries")
    op.drop_table("broadcast_deliveries")
    op.drop_index("ix_broadcasts_status_scheduled", table_name="broadcasts")
    op.drop_table("broadcasts")
    with op.batch_alter_table("users") as users:
        users.drop_column("country")
        users.drop_column("announcements")
