"""Threads: conversations with their messages; drafts and sessions learn their thread, the
citizen's note, the operator's feedback and the CLI's result.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
OLD_DRAFT_STATUSES = "status IN ('pending', 'approved', 'rejected')"
DRAFT_STATUSES = "status IN ('pending', 'approved', 'rejected', 'superseded', 'sent')"


def _ts(name: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "threads",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("platform", sa.String(50), nullable=False),
        sa.Column("client", sa.String(200), nullable=False),
        sa.Column("job_title", sa.String(500), nullable=True),
        sa.Column("job_link", sa.String(2000), nullable=True),
        sa.Column("external_key", sa.String(255), nullable=True, unique=True),
        _ts("created_at"),
        _ts("last_message_at"),
        _ts("waiting_since", nullable=True),
    )
    op.create_index("ix_threads_last_message_at_id", "threads", ["last_message_at", "id"])
    op.create_index("ix_threads_client", "threads", ["client"])
    op.create_index("ix_threads_job_link", "threads", ["job_link"])

    with op.batch_alter_table("drafts") as batch:
        batch.add_column(sa.Column("note", sa.Text(), nullable=True))
        batch.add_column(sa.Column("thread_id", sa.String(36), nullable=True))
        batch.add_column(sa.Column("lead_id", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("session_id", sa.String(36), nullable=True))
        batch.add_column(_ts("sent_at", nullable=True))
        batch.create_foreign_key("fk_drafts_thread_id", "threads", ["thread_id"], ["id"])
        batch.create_foreign_key("fk_drafts_lead_id", "leads", ["lead_id"], ["id"])
        batch.drop_constraint("ck_drafts_status", type_="check")
        batch.create_check_constraint("ck_drafts_status", DRAFT_STATUSES)
    op.create_index("ix_drafts_thread_id_created_at", "drafts", ["thread_id", "created_at"])

    op.create_table(
        "thread_messages",
        sa.Column("id", BIG_ID, primary_key=True),
        sa.Column("thread_id", sa.String(36), sa.ForeignKey("threads.id"), nullable=False),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        _ts("at"),
        sa.Column("draft_id", sa.String(36), sa.ForeignKey("drafts.id"), nullable=True),
        sa.CheckConstraint("direction IN ('in', 'out')", name="ck_thread_messages_direction"),
    )
    op.create_index("ix_thread_messages_thread_id_id", "thread_messages", ["thread_id", "id"])

    op.create_table(
        "draft_feedback",
        sa.Column("id", BIG_ID, primary_key=True),
        sa.Column("draft_id", sa.String(36), sa.ForeignKey("drafts.id"), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("old_text", sa.Text(), nullable=True),
        sa.Column("by_user", sa.BigInteger(), nullable=True),
        _ts("at"),
        sa.CheckConstraint(
            "kind IN ('edit', 'reject_reason', 'redraft')", name="ck_draft_feedback_kind"
        ),
    )
    op.create_index("ix_draft_feedback_draft_id_id", "draft_feedback", ["draft_id", "id"])

    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("thread_id", sa.String(36), nullable=True))
        batch.add_column(sa.Column("lead_id", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("draft_id", sa.String(36), nullable=True))
        batch.add_column(sa.Column("claude_session_id", sa.String(100), nullable=True))
        batch.add_column(sa.Column("cost_usd", sa.Float(), nullable=True))
        batch.add_column(sa.Column("turns", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("result", sa.Text(), nullable=True))
        batch.add_column(sa.Column("waiting_reason", sa.String(100), nullable=True))
        batch.create_foreign_key("fk_sessions_thread_id", "threads", ["thread_id"], ["id"])
    op.create_index(
        "ix_sessions_thread_id_citizen_created_at",
        "sessions",
        ["thread_id", "citizen", "created_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_sessions_thread_id_citizen_created_at", "sessions")
    with op.batch_alter_table("sessions") as batch:
        batch.drop_constraint("fk_sessions_thread_id", type_="foreignkey")
        for name in (
            "waiting_reason",
            "result",
            "turns",
            "cost_usd",
            "claude_session_id",
            "draft_id",
            "lead_id",
            "thread_id",
        ):
            batch.drop_column(name)
    op.drop_table("draft_feedback")
    op.drop_table("thread_messages")
    op.drop_index("ix_drafts_thread_id_created_at", "drafts")
    with op.batch_alter_table("drafts") as batch:
        batch.drop_constraint("ck_drafts_status", type_="check")
        batch.create_check_constraint("ck_drafts_status", OLD_DRAFT_STATUSES)
        batch.drop_constraint("fk_drafts_lead_id", type_="foreignkey")
        batch.drop_constraint("fk_drafts_thread_id", type_="foreignkey")
        for name in ("sent_at", "session_id", "lead_id", "thread_id", "note"):
            batch.drop_column(name)
    op.drop_table("threads")
