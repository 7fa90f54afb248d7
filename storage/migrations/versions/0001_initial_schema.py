"""Initial schema: the append-only event log, drafts, leads, idempotency keys, sessions.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _ts(name: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", BIG_ID, primary_key=True),
        sa.Column("event", sa.String(50), nullable=False),
        _ts("timestamp"),
        sa.Column("payload", JSON_DOC, nullable=False),
    )
    op.create_index("ix_events_event_id", "events", ["event", "id"])
    op.create_index("ix_events_timestamp_id", "events", ["timestamp", "id"])
    _make_events_append_only()

    op.create_table(
        "drafts",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("client", sa.String(200), nullable=False),
        sa.Column("job_title", sa.String(500), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("draft_text", sa.Text(), nullable=False),
        sa.Column("confidence", sa.Integer(), nullable=False),
        sa.Column("context", JSON_DOC, nullable=False),
        sa.Column("citizen", sa.String(50), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("telegram_message_id", sa.BigInteger(), nullable=True),
        sa.Column("decided_by", sa.BigInteger(), nullable=True),
        _ts("decided_at", nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
        sa.CheckConstraint("confidence >= 0 AND confidence <= 100", name="ck_drafts_confidence"),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'rejected')", name="ck_drafts_status"
        ),
    )
    op.create_index("ix_drafts_created_at_id", "drafts", ["created_at", "id"])
    op.create_index("ix_drafts_status_created_at_id", "drafts", ["status", "created_at", "id"])

    op.create_table(
        "outbox",
        sa.Column("id", BIG_ID, primary_key=True),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("reply_markup", JSON_DOC, nullable=True),
        sa.Column("draft_id", sa.String(36), sa.ForeignKey("drafts.id"), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _ts("next_attempt_at"),
        sa.Column("claimed_by", sa.String(100), nullable=True),
        _ts("claimed_until", nullable=True),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        _ts("created_at"),
        _ts("sent_at", nullable=True),
        sa.CheckConstraint("status IN ('pending', 'sent', 'failed')", name="ck_outbox_status"),
    )
    op.create_index(
        "ix_outbox_pending_due",
        "outbox",
        ["next_attempt_at", "id"],
        sqlite_where=sa.text("status = 'pending'"),
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_outbox_pending_chat",
        "outbox",
        ["chat_id", "id"],
        sqlite_where=sa.text("status = 'pending'"),
        postgresql_where=sa.text("status = 'pending'"),
    )

    op.create_table(
        "pending_edits",
        sa.Column("chat_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("draft_id", sa.String(36), sa.ForeignKey("drafts.id"), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        _ts("created_at"),
    )

    op.create_table(
        "leads",
        sa.Column("id", BIG_ID, primary_key=True),
        sa.Column("platform", sa.String(50), nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("budget", sa.String(100), nullable=False),
        sa.Column("decision", sa.String(10), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("urgency", sa.Integer(), nullable=True),
        sa.Column("pain", sa.Integer(), nullable=True),
        sa.Column("link", sa.String(2000), nullable=True),
        sa.Column("sent", sa.Boolean(), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.CheckConstraint("decision IN ('GO', 'NO-GO')", name="ck_leads_decision"),
        sa.CheckConstraint(
            "urgency IS NULL OR (urgency >= 1 AND urgency <= 10)", name="ck_leads_urgency"
        ),
        sa.CheckConstraint("pain IS NULL OR (pain >= 1 AND pain <= 10)", name="ck_leads_pain"),
    )
    op.create_index("ix_leads_decision_id", "leads", ["decision", "id"])
    op.create_index("ix_leads_platform_id", "leads", ["platform", "id"])

    op.create_table(
        "idempotency_keys",
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("response", JSON_DOC, nullable=False),
        _ts("created_at"),
    )

    op.create_table(
        "sessions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("citizen", sa.String(50), nullable=False),
        sa.Column("trigger", sa.String(50), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("output_tail", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("notify_chat_id", sa.BigInteger(), nullable=True),
        sa.Column("claimed_by", sa.String(100), nullable=True),
        _ts("created_at"),
        _ts("started_at", nullable=True),
        _ts("finished_at", nullable=True),
        _ts("heartbeat_at", nullable=True),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'completed', 'failed')", name="ck_sessions_status"
        ),
    )
    op.create_index(
        "ix_sessions_status_citizen_created_at", "sessions", ["status", "citizen", "created_at"]
    )
    op.create_index("ix_sessions_created_at_id", "sessions", ["created_at", "id"])
    op.create_index(
        "ux_sessions_one_running_per_citizen",
        "sessions",
        ["citizen"],
        unique=True,
        sqlite_where=sa.text("status = 'running'"),
        postgresql_where=sa.text("status = 'running'"),
    )

    op.create_table(
        "webhook_deliveries",
        sa.Column("id", BIG_ID, primary_key=True),
        sa.Column("webhook_id", sa.String(255), nullable=True, unique=True),
        sa.Column("body_hash", sa.String(64), nullable=False),
        sa.Column("route", sa.String(200), nullable=False),
        sa.Column("session_id", sa.String(36), nullable=True),
        _ts("received_at"),
    )
    op.create_index(
        "ix_webhook_deliveries_body_hash", "webhook_deliveries", ["body_hash", "received_at"]
    )


def _make_events_append_only() -> None:
    """The database itself refuses to change or remove a logged event."""
    if op.get_bind().dialect.name == "postgresql":
        # LIKE 'prefix%' can use a btree only with pattern ops under a non-C collation.
        op.execute("CREATE INDEX ix_events_event_pattern ON events (event varchar_pattern_ops)")
        op.execute(
            """
            CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'events is append-only: % refused', TG_OP
                    USING ERRCODE = 'insufficient_privilege';
            END $$
            """
        )
        op.execute(
            "CREATE TRIGGER events_no_update_delete BEFORE UPDATE OR DELETE ON events "
            "FOR EACH ROW EXECUTE FUNCTION events_append_only()"
        )
        op.execute(
            "CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events "
            "FOR EACH STATEMENT EXECUTE FUNCTION events_append_only()"
        )
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER events_no_{action.lower()} BEFORE {action} ON events "
                f"BEGIN SELECT RAISE(ABORT, 'events is append-only: {action} refused'); END"
            )


def downgrade() -> None:
    op.drop_table("webhook_deliveries")
    op.drop_table("sessions")
    op.drop_table("idempotency_keys")
    op.drop_table("leads")
    op.drop_table("pending_edits")
    op.drop_table("outbox")
    op.drop_table("drafts")
    op.drop_table("events")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS events_append_only()")
