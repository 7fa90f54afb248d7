"""The outbox learns to edit a message, to reply to one and to stay silent; every message
that shows a draft is recorded, so all of them can follow the draft.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("edit_message_id", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("reply_to_message_id", sa.BigInteger(), nullable=True))
        batch.add_column(
            sa.Column("silent", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_table(
        "draft_messages",
        sa.Column("chat_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("message_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("draft_id", sa.String(36), sa.ForeignKey("drafts.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_draft_messages_draft_id", "draft_messages", ["draft_id"])


def downgrade() -> None:
    op.drop_table("draft_messages")
    with op.batch_alter_table("outbox") as batch:
        for name in ("silent", "reply_to_message_id", "edit_message_id"):
            batch.drop_column(name)
