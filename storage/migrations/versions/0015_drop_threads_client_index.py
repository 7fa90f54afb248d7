"""`ix_threads_client` goes: since 0011 every lookup of a thread by its client compares
`client_key` (ix_threads_client_key); nothing filters or sorts on `client`, so the index only
cost every thread's insert and update.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_threads_client", table_name="threads")


def downgrade() -> None:
    op.create_index("ix_threads_client", "threads", ["client"])
