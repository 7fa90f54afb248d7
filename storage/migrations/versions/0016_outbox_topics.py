"""An operator message's forum topic when it is about no thread: the answer to a command typed
in a topic goes to that topic (CONTRACT §14).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("topic_id", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.drop_column("outbox", "topic_id")
