"""Conversation steps: the pending edit generalised to the steps after Edit, Reject and
Redraft, kept per (chat, user) so that a step belongs to the user who started it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pending_steps",
        sa.Column("chat_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("user_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("draft_id", sa.String(36), sa.ForeignKey("drafts.id"), nullable=False),
        sa.Column("prompt_message_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('edit', 'reject_reason', 'redraft')", name="ck_pending_steps_kind"
        ),
    )
    # An edit waiting across the upgrade is still waited for, now as its user's step.
    op.execute(
        "INSERT INTO pending_steps (chat_id, user_id, kind, draft_id, created_at) "
        "SELECT chat_id, user_id, 'edit', draft_id, created_at FROM pending_edits"
    )
    op.drop_table("pending_edits")


def downgrade() -> None:
    op.create_table(
        "pending_edits",
        sa.Column("chat_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("draft_id", sa.String(36), sa.ForeignKey("drafts.id"), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.drop_table("pending_steps")
