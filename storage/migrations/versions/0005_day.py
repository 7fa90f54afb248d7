"""The operator's day: a draft remembers its reminder; one digest row per day; leads are
found by link; a session's notice is one message, edited as it goes.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("drafts") as batch:
        batch.add_column(sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "digests",
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_leads_link", "leads", ["link"], postgresql_using="hash")
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("edit_outbox_id", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("reply_to_outbox_id", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("notice_outbox_id", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("notice_outbox_id")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("reply_to_outbox_id")
        batch.drop_column("edit_outbox_id")
    op.drop_index("ix_leads_link", "leads")
    op.drop_table("digests")
    with op.batch_alter_table("drafts") as batch:
        batch.drop_column("reminded_at")
