"""Names compared as Python's casefold() on both databases (`threads.client_key`,
`threads.job_title_key`, `drafts.client_key`, filled from the names here), and the decider's
name on the draft (`drafts.decided_by_name`, filled from the decisions' events), so a card
reads it with the draft instead of searching the event log; and whether a webhook delivery's
signature had a timestamp (without one its bytes are remembered for good: the deliveries kept
now are all kept).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DECISIONS = ("draft.approved@1.0", "draft.rejected@1.0", "draft.redraft_requested@1.0")
BATCH = 1000


def upgrade() -> None:
    op.add_column("threads", sa.Column("client_key", sa.Text(), nullable=True))
    op.add_column("threads", sa.Column("job_title_key", sa.Text(), nullable=True))
    op.add_column("drafts", sa.Column("client_key", sa.Text(), nullable=True))
    op.add_column("drafts", sa.Column("decided_by_name", sa.Text(), nullable=True))
    op.add_column(
        "webhook_deliveries",
        sa.Column("timestamped", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    _fill_keys("threads", ("client", "job_title"))
    _fill_keys("drafts", ("client",))
    _fill_decider_names()
    with op.batch_alter_table("threads") as batch:
        batch.alter_column("client_key", existing_type=sa.Text(), nullable=False)
    with op.batch_alter_table("drafts") as batch:
        batch.alter_column("client_key", existing_type=sa.Text(), nullable=False)
    op.create_index("ix_threads_client_key", "threads", ["client_key"])
    op.create_index(
        "ix_drafts_client_key_created_at_id", "drafts", ["client_key", "created_at", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_drafts_client_key_created_at_id", table_name="drafts")
    op.drop_index("ix_threads_client_key", table_name="threads")
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.drop_column("timestamped")
    with op.batch_alter_table("drafts") as batch:
        batch.drop_column("decided_by_name")
        batch.drop_column("client_key")
    with op.batch_alter_table("threads") as batch:
        batch.drop_column("job_title_key")
        batch.drop_column("client_key")


def _fill_keys(table_name: str, columns: tuple[str, ...]) -> None:
    """Each name's key, folded by Python: neither database folds every alphabet alike."""
    connection = op.get_bind()
    table = sa.table(
        table_name,
        sa.column("id", sa.String()),
        *(sa.column(name, sa.Text()) for name in columns),
        *(sa.column(f"{name}_key", sa.Text()) for name in columns),
    )
    update = (
        table.update()
        .where(table.c.id == sa.bindparam("row_id"))
        .values({f"{name}_key": sa.bindparam(f"new_{name}") for name in columns})
    )
    rows = connection.execute(sa.select(table.c.id, *(table.c[n] for n in columns))).all()
    for start in range(0, len(rows), BATCH):
        connection.execute(
            update,
            [
                {
                    "row_id": row[0],
                    **{
                        f"new_{name}": None if value is None else value.casefold()
                        for name, value in zip(columns, row[1:], strict=True)
                    },
                }
                for row in rows[start : start + BATCH]
            ],
        )


def _fill_decider_names() -> None:
    """The name each decision's event recorded onto its draft (read oldest first, so the
    latest decision's name is the one left)."""
    connection = op.get_bind()
    events = sa.table(
        "events",
        sa.column("id", sa.BigInteger()),
        sa.column("event", sa.String()),
        sa.column("payload", sa.JSON()),
    )
    drafts = sa.table(
        "drafts", sa.column("id", sa.String()), sa.column("decided_by_name", sa.Text())
    )
    names: dict[str, str] = {}
    rows = connection.execute(
        sa.select(events.c.payload).where(events.c.event.in_(DECISIONS)).order_by(events.c.id)
    )
    for (payload,) in rows:
        if not isinstance(payload, dict) or not isinstance(payload.get("draft_id"), str):
            continue
        name = payload.get("decided_by_name") or payload.get("requested_by_name")
        if isinstance(name, str) and name:
            names[payload["draft_id"]] = name
    update = (
        drafts.update()
        .where(drafts.c.id == sa.bindparam("draft_id"))
        .values(decided_by_name=sa.bindparam("name"))
    )
    items = [{"draft_id": key, "name": value} for key, value in names.items()]
    for start in range(0, len(items), BATCH):
        connection.execute(update, items[start : start + BATCH])
