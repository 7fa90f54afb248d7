"""No client left behind: a thread's forum topic and reminder, the thread an operator message
is about, and the operator's own answer as a conversation step.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COPY = (
    "INSERT INTO pending_steps (chat_id, user_id, kind, draft_id, prompt_message_id, created_at)"
    " SELECT chat_id, user_id, kind, draft_id, prompt_message_id, created_at"
    " FROM pending_steps_old"
)


def upgrade() -> None:
    op.add_column("threads", sa.Column("topic_id", sa.BigInteger(), nullable=True))
    op.add_column("threads", sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("outbox", sa.Column("thread_id", sa.String(36), nullable=True))
    # A step may now wait for the operator's own reply to a thread (no draft yet).
    thread = sa.Column("thread_id", sa.String(36), sa.ForeignKey("threads.id"), nullable=True)
    if op.get_bind().dialect.name == "postgresql":
        op.add_column("pending_steps", thread)
        op.alter_column("pending_steps", "draft_id", nullable=True)
        _kinds(("edit", "reject_reason", "redraft", "answer"))
        return
    # SQLite alters no constraint: the small, short-lived table is rebuilt.
    op.rename_table("pending_steps", "pending_steps_old")
    _steps_table(("edit", "reject_reason", "redraft", "answer"), thread, draft_nullable=True)
    op.execute(_COPY)
    op.drop_table("pending_steps_old")


def downgrade() -> None:
    op.execute("DELETE FROM pending_steps WHERE draft_id IS NULL")
    if op.get_bind().dialect.name == "postgresql":
        _kinds(("edit", "reject_reason", "redraft"))
        op.alter_column("pending_steps", "draft_id", nullable=False)
        op.drop_column("pending_steps", "thread_id")
    else:
        op.rename_table("pending_steps", "pending_steps_old")
        _steps_table(("edit", "reject_reason", "redraft"), draft_nullable=False)
        op.execute(_COPY)
        op.drop_table("pending_steps_old")
    op.drop_column("outbox", "thread_id")
    op.drop_column("threads", "reminded_at")
    op.drop_column("threads", "topic_id")


def _kinds(kinds: tuple[str, ...]) -> None:
    listed = ", ".join(f"'{kind}'" for kind in kinds)
    op.drop_constraint("ck_pending_steps_kind", "pending_steps", type_="check")
    op.create_check_constraint("ck_pending_steps_kind", "pending_steps", f"kind IN ({listed})")


def _steps_table(kinds: tuple[str, ...], *extra: sa.Column, draft_nullable: bool) -> None:
    listed = ", ".join(f"'{kind}'" for kind in kinds)
    op.create_table(
        "pending_steps",
        sa.Column("chat_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("user_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("draft_id", sa.String(36), sa.ForeignKey("drafts.id"), nullable=draft_nullable),
        sa.Column("prompt_message_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        *extra,
        sa.CheckConstraint(f"kind IN ({listed})", name="ck_pending_steps_kind"),
    )
