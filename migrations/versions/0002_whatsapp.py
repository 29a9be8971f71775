"""whatsapp: webhook inbox, processed ids, contacts, deliveries, paged menus

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "whatsapp_inbox",
        sa.Column("id", ID, primary_key=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="new"),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(500), nullable=True),
    )
    op.create_index("ix_whatsapp_inbox_status", "whatsapp_inbox", ["status", "id"])
    op.create_table(
        "whatsapp_processed",
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("inbox_id", ID, nullable=False),
        sa.Column("done", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "whatsapp_contacts",
        sa.Column("external_id", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.String(64), nullable=True, unique=True),
        sa.Column("wa_id", sa.String(32), nullable=True, unique=True),
        sa.Column("profile_name", sa.String(128), nullable=True),
        sa.Column("last_inbound_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "whatsapp_deliveries",
        sa.Column("wamid", sa.String(255), primary_key=True),
        sa.Column("external_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False, server_default="reply"),
        sa.Column("status", sa.String(16), nullable=False, server_default="accepted"),
        sa.Column("error_code", sa.Integer(), nullable=True),
        sa.Column("error_title", sa.String(255), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_whatsapp_deliveries_external", "whatsapp_deliveries", ["external_id"])
    op.create_table(
        "whatsapp_menus",
        sa.Column("external_id", sa.String(64), primary_key=True),
        sa.Column("token", sa.String(16), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("choices", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("whatsapp_menus")
    op.drop_index("ix_whatsapp_deliveries_external", table_name="whatsapp_deliveries")
    op.drop_table("whatsapp_deliveries")
    op.drop_table("whatsapp_contacts")
    op.drop_table("whatsapp_processed")
    op.drop_index("ix_whatsapp_inbox_status", table_name="whatsapp_inbox")
    op.drop_table("whatsapp_inbox")
