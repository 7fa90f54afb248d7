"""Schedules (a citizen session at every time of a cron expression), and the indexes that
keep /api/stats fast: drafts by decision, sending and lead, sessions by start, leads by date,
a thread's messages by direction and time.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
INDEXES = (
    ("ix_drafts_decided_at", "drafts", ["decided_at"]),
    ("ix_drafts_sent_at", "drafts", ["sent_at"]),
    ("ix_drafts_lead_id", "drafts", ["lead_id"]),
    ("ix_sessions_started_at", "sessions", ["started_at"]),
    ("ix_leads_created_at", "leads", ["created_at"]),
    (
        "ix_thread_messages_thread_id_direction_at",
        "thread_messages",
        ["thread_id", "direction", "at"],
    ),
)


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("id", BIG_ID, primary_key=True),
        sa.Column("citizen", sa.String(50), nullable=False),
        sa.Column("cron", sa.String(100), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_fired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_session_id", sa.String(36), nullable=True),
    )
    op.create_index("ix_schedules_next_run_at", "schedules", ["next_run_at"])
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
    op.drop_table("schedules")
