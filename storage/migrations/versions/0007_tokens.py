"""Sessions learn their token (its hash only), the process group they run in, and whether the
operator let them past the daily budget.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("token_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("pid", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("pgid", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("run_anyway", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_index("ux_sessions_token_hash", "sessions", ["token_hash"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_sessions_token_hash", "sessions")
    with op.batch_alter_table("sessions") as batch:
        for name in ("run_anyway", "pgid", "pid", "token_hash"):
            batch.drop_column(name)
