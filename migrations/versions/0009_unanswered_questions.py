"""unanswered questions: typed questions the knowledge base had no confident answer
for, counted, without who asked

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "unanswered_questions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("text", sa.String(300), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("first_asked", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_asked", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("language", "key", name="uq_unanswered_key"),
    )
    op.create_index("ix_unanswered_questions_last_asked", "unanswered_questions",
                    ["last_asked"])


def downgrade() -> None:
    op.drop_index("ix_unanswered_questions_last_asked", table_name="unanswered_questions")
    op.drop_table("unanswered_questions")
