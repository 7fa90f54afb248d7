"""SQLModel tables. The migrations in `storage/migrations` create exactly these."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    LargeBinary,
    Table,
    Text,
    false,
    text,
)
from sqlmodel import Field, SQLModel

from storage.folding import folded
from storage.types import BigIntId, JsonDoc, UTCDateTime, utcnow

# superseded: the client wrote again, or the operator asked for a redraft; sent: the reply
# reached the client (marked by the operator, or delivered by the delivery webhook).
DRAFT_STATUSES = ("pending", "approved", "rejected", "superseded", "sent")
THREAD_DIRECTIONS = ("in", "out")
FEEDBACK_KINDS = ("edit", "reject_reason", "redraft")
LEAD_DECISIONS = ("GO", "NO-GO")
SESSION_STATUSES = ("queued", "running", "completed", "failed")
OUTBOX_STATUSES = ("pending", "sent", "failed")
DELIVERY_STATUSES = ("pending", "succeeded", "failed")


def _now_field() -> Any:
    return Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


def _optional_time_field() -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime()))


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Event(SQLModel, table=True):
    """One line of the append-only log; the database refuses UPDATE and DELETE on it."""

    if TYPE_CHECKING:  # SQLModel sets it; its stubs do not say so
        __table__: ClassVar[Table]

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_event_id", "event", "id"),
        Index("ix_events_timestamp_id", "timestamp", "id"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigIntId, primary_key=True))
    event: str = Field(max_length=50, nullable=False)
    timestamp: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    payload: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JsonDoc, nullable=False)
    )


class Draft(SQLModel, table=True):
    if TYPE_CHECKING:  # SQLModel sets it; its stubs do not say so
        __table__: ClassVar[Table]

    __tablename__ = "drafts"
    __table_args__ = (
        CheckConstraint("confidence >= 0 AND confidence <= 100", name="ck_drafts_confidence"),
        CheckConstraint(_in("status", DRAFT_STATUSES), name="ck_drafts_status"),
        Index("ix_drafts_created_at_id", "created_at", "id"),
        Index("ix_drafts_status_created_at_id", "status", "created_at", "id"),
        Index("ix_drafts_thread_id_created_at", "thread_id", "created_at"),
        # /api/stats reads drafts by the day they were decided or sent, and by lead.
        Index("ix_drafts_decided_at", "decided_at"),
        Index("ix_drafts_sent_at", "sent_at"),
        Index("ix_drafts_lead_id", "lead_id"),
        # GET /api/drafts?client= (CONTRACT §3: as Python's casefold(), on both databases).
        Index("ix_drafts_client_key_created_at_id", "client_key", "created_at", "id"),
    )

    id: str = Field(primary_key=True, max_length=36)
    client: str = Field(max_length=200)
    client_key: str = Field(sa_column=Column(Text, nullable=False, default=folded("client")))
    """`client` as compared: `storage.folding.fold`."""
    job_title: str = Field(max_length=500)
    message: str = Field(sa_column=Column(Text, nullable=False))
    draft_text: str = Field(sa_column=Column(Text, nullable=False))
    confidence: int
    context: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JsonDoc, nullable=False)
    )
    citizen: str = Field(default="rafael", max_length=50)
    status: str = Field(default="pending", max_length=20)
    telegram_message_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    decided_by: int | None = Field(default=None, sa_column=Column(BigInteger))
    decided_by_name: str | None = Field(default=None, sa_column=Column(Text))
    """The name Telegram gave the operator who decided (shown on the card)."""
    decided_at: datetime | None = _optional_time_field()
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    note: str | None = Field(default=None, sa_column=Column(Text))
    """The citizen's word to the operator, shown on the card."""
    thread_id: str | None = Field(default=None, foreign_key="threads.id", max_length=36)
    lead_id: int | None = Field(
        default=None, sa_column=Column(BigInteger, ForeignKey("leads.id"), nullable=True)
    )
    session_id: str | None = Field(default=None, max_length=36)
    """The citizen session that posted the draft (a session token's drafts)."""
    sent_at: datetime | None = _optional_time_field()
    reminded_at: datetime | None = _optional_time_field()
    """When the operator was reminded that its client waits (once per draft)."""


class Thread(SQLModel, table=True):
    """One conversation with one client about one job (CONTRACT §9)."""

    if TYPE_CHECKING:  # SQLModel sets it; its stubs do not say so
        __table__: ClassVar[Table]

    __tablename__ = "threads"
    __table_args__ = (
        Index("ix_threads_last_message_at_id", "last_message_at", "id"),
        Index("ix_threads_job_link", "job_link"),
        # A message finds its thread by client and title (CONTRACT §9), as `client_key`.
        Index("ix_threads_client_key", "client_key"),
    )

    id: str = Field(primary_key=True, max_length=36)
    platform: str = Field(max_length=50)
    client: str = Field(max_length=200)
    client_key: str = Field(sa_column=Column(Text, nullable=False, default=folded("client")))
    """`client` and `job_title` as compared: `storage.folding.fold`."""
    job_title: str | None = Field(default=None, max_length=500)
    job_title_key: str | None = Field(sa_column=Column(Text, default=folded("job_title")))
    job_link: str | None = Field(default=None, max_length=2000)
    external_key: str | None = Field(default=None, max_length=255, unique=True)
    """The sender's own conversation key (the webhook's `thread`, e.g. a Gmail thread id)."""
    created_at: datetime = _now_field()
    last_message_at: datetime = _now_field()
    waiting_since: datetime | None = _optional_time_field()
    """The client's oldest message not yet answered; None when nothing waits."""
    topic_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    """The forum topic of the operator chat that holds this thread's messages (§14)."""
    reminded_at: datetime | None = _optional_time_field()
    """When the operator was last reminded that this thread's client waits with no draft."""


class ThreadMessage(SQLModel, table=True):
    """A message of a thread: from the client (`in`) or the operator's reply (`out`)."""

    if TYPE_CHECKING:  # SQLModel sets it; its stubs do not say so
        __table__: ClassVar[Table]

    __tablename__ = "thread_messages"
    __table_args__ = (
        CheckConstraint(_in("direction", THREAD_DIRECTIONS), name="ck_thread_messages_direction"),
        Index("ix_thread_messages_thread_id_id", "thread_id", "id"),
        # /api/stats finds a thread's last reply and first unanswered message before a draft.
        Index("ix_thread_messages_thread_id_direction_at", "thread_id", "direction", "at"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigIntId, primary_key=True))
    thread_id: str = Field(foreign_key="threads.id", max_length=36)
    direction: str = Field(max_length=3)
    text: str = Field(sa_column=Column(Text, nullable=False))
    at: datetime = _now_field()
    draft_id: str | None = Field(default=None, foreign_key="drafts.id", max_length=36)


class DraftFeedback(SQLModel, table=True):
    """What the operator said about a draft: an edit (old -> new), a reject reason, a redraft
    instruction. The next session of the thread reads it."""

    if TYPE_CHECKING:  # SQLModel sets it; its stubs do not say so
        __table__: ClassVar[Table]

    __tablename__ = "draft_feedback"
    __table_args__ = (
        CheckConstraint(_in("kind", FEEDBACK_KINDS), name="ck_draft_feedback_kind"),
        Index("ix_draft_feedback_draft_id_id", "draft_id", "id"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigIntId, primary_key=True))
    draft_id: str = Field(foreign_key="drafts.id", max_length=36)
    kind: str = Field(max_length=20)
    text: str = Field(sa_column=Column(Text, nullable=False))
    old_text: str | None = Field(default=None, sa_column=Column(Text))
    """For an edit: the text before it."""
    by_user: int | None = Field(default=None, sa_column=Column(BigInteger))
    at: datetime = _now_field()


class OutboxMessage(SQLModel, table=True):
    """A message for the operator's chat, stored before it is sent so none is ever lost.

    The sender claims due rows with a lease (`claimed_by`, `claimed_until`), sends them and
    marks them `sent`; a row with `draft_id` is that draft's card, and its Telegram message id
    is copied onto the draft.
    """

    if TYPE_CHECKING:  # SQLModel sets it; its stubs do not say so
        __table__: ClassVar[Table]

    __tablename__ = "outbox"
    __table_args__ = (
        CheckConstraint(_in("status", OUTBOX_STATUSES), name="ck_outbox_status"),
        Index(
            "ix_outbox_pending_due",
            "next_attempt_at",
            "id",
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        # Finds a chat's older pending rows: only a chat's oldest pending row may be sent.
        Index(
            "ix_outbox_pending_chat",
            "chat_id",
            "id",
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: int | None = Field(default=None, sa_column=Column(BigIntId, primary_key=True))
    chat_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    text: str = Field(sa_column=Column(Text, nullable=False))
    """HTML (the sender uses parse mode HTML): outside text is escaped by the caller."""
    reply_markup: dict[str, Any] | None = Field(default=None, sa_column=Column(JsonDoc))
    draft_id: str | None = Field(default=None, foreign_key="drafts.id", max_length=36)
    status: str = Field(default="pending", max_length=20)
    attempts: int = 0
    next_attempt_at: datetime = _now_field()
    claimed_by: str | None = Field(default=None, max_length=100)
    claimed_until: datetime | None = _optional_time_field()
    message_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = _now_field()
    sent_at: datetime | None = _optional_time_field()
    edit_message_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    """When set, the row edits that message of the chat (text and buttons) instead of sending."""
    reply_to_message_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    silent: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=false())
    )
    """Sent with `disable_notification` (the operator's phone stays quiet)."""
    edit_outbox_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    """Edit the message that outbox row became (queued earlier to the same chat)."""
    reply_to_outbox_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    """Reply to the message that outbox row became."""
    thread_id: str | None = Field(default=None, max_length=36)
    """The client thread the message is about: in a forum chat it goes to that thread's topic."""
    topic_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    """For a message about no thread: the forum topic to send it in (where the command it
    answers was typed); None: the general topic."""


class DraftMessage(SQLModel, table=True):
    """A Telegram message that shows a draft (its card, a `/drafts` listing, a copy): every
    one is edited when the draft changes."""

    if TYPE_CHECKING:  # SQLModel sets it; its stubs do not say so
        __table__: ClassVar[Table]

    __tablename__ = "draft_messages"
    __table_args__ = (Index("ix_draft_messages_draft_id", "draft_id"),)

    chat_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    message_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    draft_id: str = Field(foreign_key="drafts.id", max_length=36)
    created_at: datetime = _now_field()


class Delivery(SQLModel, table=True):
    """One delivery of an approved draft to DELIVERY_WEBHOOK_URL, retried until it lands or
    its time is up (CONTRACT §11). Claimed with a lease, as the outbox is."""

    if TYPE_CHECKING:  # SQLModel sets it; its stubs do not say so
        __table__: ClassVar[Table]

    __tablename__ = "deliveries"
    __table_args__ = (
        CheckConstraint(_in("status", DELIVERY_STATUSES), name="ck_deliveries_status"),
        Index("ix_deliveries_draft_id_id", "draft_id", "id"),
        Index(
            "ix_deliveries_pending_due",
            "next_attempt_at",
            "id",
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: int | None = Field(default=None, sa_column=Column(BigIntId, primary_key=True))
    draft_id: str = Field(foreign_key="drafts.id", max_length=36)
    webhook_id: str = Field(max_length=64, unique=True)
    """Standard Webhooks' `webhook-id`: the same on every attempt of this delivery."""
    body: str | None = Field(default=None, sa_column=Column(Text))
    """The exact JSON sent, fixed at the first attempt so every retry sends the same bytes."""
    status: str = Field(default="pending", max_length=20)
    attempts: int = 0
    next_attempt_at: datetime = _now_field()
    claimed_by: str | None = Field(default=None, max_length=100)
    claimed_until: datetime | None = _optional_time_field()
    last_status: int | None = None
    """The HTTP status of the last attempt (None: no answer)."""
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = _now_field()
    finished_at: datetime | None = _optional_time_field()


STEP_KINDS = ("edit", "reject_reason", "redraft", "answer")


class PendingStep(SQLModel, table=True):
    """A conversation step waiting for one user's next text in one chat: the new text after
    Edit, the reason after Reject, the instruction after Redraft, the operator's own reply to
    a thread after Answer (`thread_id`, no draft yet)."""

    if TYPE_CHECKING:  # SQLModel sets it; its stubs do not say so
        __table__: ClassVar[Table]

    __tablename__ = "pending_steps"
    __table_args__ = (CheckConstraint(_in("kind", STEP_KINDS), name="ck_pending_steps_kind"),)

    chat_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    user_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    kind: str = Field(max_length=20)
    draft_id: str | None = Field(default=None, foreign_key="drafts.id", max_length=36)
    prompt_message_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    """The bot's question (edited once the step ends), when it is known."""
    created_at: datetime = _now_field()
    thread_id: str | None = Field(default=None, foreign_key="threads.id", max_length=36)


class Lead(SQLModel, table=True):
    if TYPE_CHECKING:  # SQLModel sets it; its stubs do not say so
        __table__: ClassVar[Table]

    __tablename__ = "leads"
    __table_args__ = (
        CheckConstraint(_in("decision", LEAD_DECISIONS), name="ck_leads_decision"),
        CheckConstraint(
            "urgency IS NULL OR (urgency >= 1 AND urgency <= 10)", name="ck_leads_urgency"
        ),
        CheckConstraint("pain IS NULL OR (pain >= 1 AND pain <= 10)", name="ck_leads_pain"),
        Index("ix_leads_decision_id", "decision", "id"),
        Index("ix_leads_platform_id", "platform", "id"),
        Index("ix_leads_created_at", "created_at"),
        # Hash: a btree entry would refuse a long link (2,000 characters may pass 2,700 bytes).
        Index("ix_leads_link", "link", postgresql_using="hash"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigIntId, primary_key=True))
    platform: str = Field(max_length=50)
    title: str = Field(max_length=500)
    budget: str = Field(max_length=100)
    decision: str = Field(max_length=10)
    reason: str = Field(sa_column=Column(Text, nullable=False))
    urgency: int | None = None
    pain: int | None = None
    link: str | None = Field(default=None, max_length=2000)
    sent: bool = False
    card_chat_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    card_message_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    """Where the lead's card is, once the operator tapped it: it is edited as its proposal goes."""
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class IdempotencyKey(SQLModel, table=True):
    """A draft-creation request seen before: the first response is answered again."""

    if TYPE_CHECKING:  # SQLModel sets it; its stubs do not say so
        __table__: ClassVar[Table]

    __tablename__ = "idempotency_keys"

    key: str = Field(primary_key=True, max_length=255)
    request_hash: str = Field(max_length=64)
    response: dict[str, Any] = Field(sa_column=Column(JsonDoc, nullable=False))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class CitizenSession(SQLModel, table=True):
    """One run of a citizen's CLI: queued, then running, then completed or failed."""

    if TYPE_CHECKING:  # SQLModel sets it; its stubs do not say so
        __table__: ClassVar[Table]

    __tablename__ = "sessions"
    __table_args__ = (
        CheckConstraint(_in("status", SESSION_STATUSES), name="ck_sessions_status"),
        Index("ix_sessions_status_citizen_created_at", "status", "citizen", "created_at"),
        Index("ix_sessions_created_at_id", "created_at", "id"),
        Index("ix_sessions_thread_id_citizen_created_at", "thread_id", "citizen", "created_at"),
        Index("ix_sessions_started_at", "started_at"),
        # The database, not the runner, guarantees one running session per citizen, so two
        # processes claiming from one PostgreSQL can never run a citizen twice at once.
        Index(
            "ux_sessions_one_running_per_citizen",
            "citizen",
            unique=True,
            sqlite_where=text("status = 'running'"),
            postgresql_where=text("status = 'running'"),
        ),
        Index("ux_sessions_token_hash", "token_hash", unique=True),
    )

    id: str = Field(primary_key=True, max_length=36)
    citizen: str = Field(max_length=50)
    trigger: str = Field(max_length=50)
    prompt: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(default="queued", max_length=20)
    exit_code: int | None = None
    output_tail: str | None = Field(default=None, sa_column=Column(Text))
    error: str | None = Field(default=None, sa_column=Column(Text))
    notify_chat_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    claimed_by: str | None = Field(default=None, max_length=100)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    started_at: datetime | None = _optional_time_field()
    finished_at: datetime | None = _optional_time_field()
    heartbeat_at: datetime | None = _optional_time_field()
    """Refreshed by the running process; a stale one means that process died."""
    thread_id: str | None = Field(default=None, foreign_key="threads.id", max_length=36)
    lead_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    draft_id: str | None = Field(default=None, max_length=36)
    """The draft this session redrafts, when the operator asked for a redraft."""
    claude_session_id: str | None = Field(default=None, max_length=100)
    """The conversation id the CLI's JSON result reported: the thread's next session resumes it."""
    cost_usd: float | None = None
    turns: int | None = None
    result: str | None = Field(default=None, sa_column=Column(Text))
    waiting_reason: str | None = Field(default=None, max_length=100)
    notice_outbox_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    """The outbox row of the session's one Telegram notice, edited as the session goes."""
    token_hash: str | None = Field(default=None, max_length=64)
    """SHA-256 of the session's token (the token itself is only in the CLI's environment)."""
    pid: int | None = None
    pgid: int | None = None
    """The CLI's process group: after a crash, the next start ends what is left of it."""
    run_anyway: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=false())
    )
    """The operator let this session past the daily budget."""


class WebhookDelivery(SQLModel, table=True):
    """A signed webhook delivery that launched a session: later copies are duplicates."""

    if TYPE_CHECKING:  # SQLModel sets it; its stubs do not say so
        __table__: ClassVar[Table]

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_body_hash", "body_hash", "received_at"),)

    id: int | None = Field(default=None, sa_column=Column(BigIntId, primary_key=True))
    webhook_id: str | None = Field(default=None, max_length=255, unique=True)
    body_hash: str = Field(max_length=64)
    timestamped: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=false())
    )
    """Did the signature cover a timestamp? Without one, the bytes are remembered for good
    (storage/repo/webhook_deliveries.py)."""
    route: str = Field(max_length=200)
    session_id: str | None = Field(default=None, max_length=36)
    received_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class Digest(SQLModel, table=True):
    """A daily digest sent (or being sent): one row per day, so one digest a day however many
    processes run."""

    if TYPE_CHECKING:  # SQLModel sets it; its stubs do not say so
        __table__: ClassVar[Table]

    __tablename__ = "digests"

    day: str = Field(primary_key=True, max_length=10)
    """The operator's date (`TIMEZONE`), YYYY-MM-DD."""
    sent_at: datetime = _now_field()


class Note(SQLModel, table=True):
    """A dated line the citizens share (what `citizens/SYNC.md` was), newest first."""

    if TYPE_CHECKING:  # SQLModel sets it; its stubs do not say so
        __table__: ClassVar[Table]

    __tablename__ = "notes"

    id: int | None = Field(default=None, sa_column=Column(BigIntId, primary_key=True))
    citizen: str = Field(max_length=50)
    text: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = _now_field()


class Schedule(SQLModel, table=True):
    """A citizen session queued at every time a cron expression names (in TIMEZONE).

    `next_run_at` is the claim: a scheduler fires a due row only by moving it forward in a
    conditional UPDATE, so however many instances run, each time fires once.
    """

    if TYPE_CHECKING:  # SQLModel sets it; its stubs do not say so
        __table__: ClassVar[Table]

    __tablename__ = "schedules"
    __table_args__ = (Index("ix_schedules_next_run_at", "next_run_at"),)

    id: int | None = Field(default=None, sa_column=Column(BigIntId, primary_key=True))
    citizen: str = Field(max_length=50)
    cron: str = Field(max_length=100)
    message: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = _now_field()
    next_run_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    last_fired_at: datetime | None = _optional_time_field()
    last_session_id: str | None = Field(default=None, max_length=36)


class OperatorPairing(SQLModel, table=True):
    """The operator chat that paired with `/start <code>` (CONTRACT §15): one row at most.

    Used only while TELEGRAM_CHAT_ID is unset; the fixed primary key makes the first pairing
    the only one, however many chats race for it.
    """

    if TYPE_CHECKING:  # SQLModel sets it; its stubs do not say so
        __table__: ClassVar[Table]

    __tablename__ = "operator_pairing"

    id: int = Field(default=1, primary_key=True)
    chat_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    user_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    paired_at: datetime = _now_field()


class Worker(SQLModel, table=True):
    """A process that runs citizen sessions, as last seen: `/health` counts the live ones."""

    if TYPE_CHECKING:  # SQLModel sets it; its stubs do not say so
        __table__: ClassVar[Table]

    __tablename__ = "workers"
    __table_args__ = (Index("ix_workers_heartbeat_at", "heartbeat_at"),)

    id: str = Field(primary_key=True, max_length=100)
    """The runner's token, as sessions carry it in `claimed_by`."""
    started_at: datetime = _now_field()
    heartbeat_at: datetime = _now_field()


class Conversation(SQLModel, table=True):
    """The CLI's transcript of one conversation (what `--resume` reads), kept so the thread's
    next session can resume it on any machine. Data of the thread: never shown or logged."""

    if TYPE_CHECKING:  # SQLModel sets it; its stubs do not say so
        __table__: ClassVar[Table]

    __tablename__ = "conversations"

    claude_session_id: str = Field(primary_key=True, max_length=100)
    citizen: str = Field(max_length=50)
    transcript: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    """zlib-compressed JSONL; None when it outgrew the limit (the next session starts anew)."""
    size_bytes: int = Field(sa_column=Column(BigInteger, nullable=False))
    updated_at: datetime = _now_field()
