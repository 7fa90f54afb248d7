"""A pending edit belongs to the user who started it, in that chat: key it by both.

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


def _rebuild(primary_key: list[str]) -> None:
    """SQLite cannot change a primary key in place: copy the rows into a new table."""
    op.create_table(
        "pending_edits_new",
        sa.Column("chat_id", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column("draft_id", sa.String(36), sa.ForeignKey("drafts.id"), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(*primary_key),
    )
    op.execute(
        "INSERT INTO pending_edits_new (chat_id, draft_id, user_id, created_at) "
        "SELECT chat_id, draft_id, user_id, created_at FROM pending_edits"
    )
    op.drop_table("pending_edits")
    op.rename_table("pending_edits_new", "pending_edits")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("pending_edits_pkey", "pending_edits", type_="primary")
        op.create_primary_key("pending_edits_pkey", "pending_edits", ["chat_id", "user_id"])
    else:
        _rebuild(["chat_id", "user_id"])


def downgrade() -> None:
    # One edit per chat again: keep the newest of each chat.
    op.execute(
        "DELETE FROM pending_edits WHERE EXISTS (SELECT 1 FROM pending_edits AS newer "
        "WHERE newer.chat_id = pending_edits.chat_id "
        "AND (newer.created_at > pending_edits.created_at "
        "OR (newer.created_at = pending_edits.created_at "
        "AND newer.user_id > pending_edits.user_id)))"
    )
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("pending_edits_pkey", "pending_edits", type_="primary")
        op.create_primary_key("pending_edits_pkey", "pending_edits", ["chat_id"])
    else:
        _rebuild(["chat_id"])
