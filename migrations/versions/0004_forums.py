"""business forums: coordinators, forums, registrations, reminders

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "coordinators",
        sa.Column("user_id", ID, sa.ForeignKey("users.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("added_by", ID, nullable=True),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "forums",
        sa.Column("id", ID, primary_key=True),
        sa.Column("slug", sa.String(64), nullable=False, unique=True),
        sa.Column("title", sa.JSON(), nullable=False),
        sa.Column("description", sa.JSON(), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("city", sa.JSON(), nullable=False),
        sa.Column("venue", sa.JSON(), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("starts_at", TS, nullable=False),
        sa.Column("ends_at", TS, nullable=False),
        sa.Column("event_language", sa.String(8), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("confirmed_count", sa.Integer(), nullable=False),
        sa.Column("deadline", TS, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("purged_at", TS, nullable=True),
        sa.Column("created_by", ID, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_index("ix_forums_status_starts", "forums", ["status", "starts_at"])
    op.create_table(
        "registrations",
        sa.Column("id", ID, primary_key=True),
        sa.Column("forum_id", ID, sa.ForeignKey("forums.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("user_id", ID, sa.ForeignKey("users.id", ondelete="SET NULL"),
                  nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("full_name", sa.String(200), nullable=True),
        sa.Column("country", sa.String(2), nullable=True),
        sa.Column("city", sa.String(100), nullable=True),
        sa.Column("organization", sa.String(200), nullable=True),
        sa.Column("sector", sa.String(32), nullable=True),
        sa.Column("phone", sa.String(32), nullable=True),
        sa.Column("email", sa.String(254), nullable=True),
        sa.Column("consent_at", TS, nullable=True),
        sa.Column("ticket_secret", sa.String(64), nullable=True, unique=True),
        sa.Column("checked_in_at", TS, nullable=True),
        sa.Column("checked_in_by", ID, nullable=True),
        sa.Column("promoted_at", TS, nullable=True),
        sa.Column("cancelled_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_index("ix_registrations_forum_status", "registrations",
                    ["forum_id", "status", "id"])
    op.create_index("ix_registrations_user", "registrations", ["user_id"])
    op.create_table(
        "reminders",
        sa.Column("id", ID, primary_key=True),
        sa.Column("registration_id", ID,
                  sa.ForeignKey("registrations.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("offset_minutes", sa.Integer(), nullable=True),
        sa.Column("due_at", TS, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(64), nullable=True),
        sa.Column("claimed_at", TS, nullable=True),
        sa.Column("sent_at", TS, nullable=True),
        sa.Column("last_error", sa.String(300), nullable=True),
    )
    op.create_index("ix_reminders_status_due", "reminders", ["status", "due_at"])


def downgrade() -> None:
    op.drop_index("ix_reminders_status_due", table_name="reminders")
    op.drop_table("reminders")
    op.drop_index("ix_registrations_user", table_name="registrations")
    op.drop_index("ix_registrations_forum_status", table_name="registrations")
    op.drop_table("registrations")
    op.drop_index("ix_forums_status_starts", table_name="forums")
    op.drop_table("forums")
    op.drop_table("coordinators")
