"""The durable outbox of operator messages: written with the change it reports, sent later.

Any part of the process that wants to tell the operator something calls `enqueue` inside its
own transaction; if that transaction rolls back, nothing is sent, and once it commits the
message is sent even if Telegram is down right now or the process restarts. The sender
claims due rows with a lease, so two processes on one PostgreSQL never send the same row at
the same time (`FOR UPDATE SKIP LOCKED`; SQLite has one writer at a time anyway).

Messages to one chat go out in the order they were queued. A claim starts at a chat's oldest
pending row (its head) and may take the rows queued behind it as one run, which the sender
sends in order; rows behind a head are never claimed on their own. So a newer message never
overtakes one that waits on a retry, and the head's backoff holds back the whole chat.

The statements are built once, at import: building them (the head test's alias above all)
cost more than running them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple, TypedDict, Unpack

from sqlalchemy import (
    ARRAY,
    BigInteger,
    bindparam,
    case,
    column,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.hotpath import HotPath, HotStatement
from storage.models import Draft, DraftMessage, OutboxMessage
from storage.types import UTCDateTime, utcnow

ERROR_MAX_CHARS = 500

OUTBOX = OutboxMessage.__table__
DRAFTS = Draft.__table__
SHOWN = DraftMessage.__table__
_OLDER = OUTBOX.alias("older")
# Written into the SQL, not bound: only then can a generic plan use the partial indexes.
_STATUS_PENDING = literal("pending", literal_execute=True)
_PENDING = OUTBOX.c.status == _STATUS_PENDING
_NOW = bindparam("now", type_=UTCDateTime())
_FREE = or_(OUTBOX.c.claimed_until.is_(None), OUTBOX.c.claimed_until < _NOW)
_IS_CHAT_HEAD = ~exists().where(
    _OLDER.c.chat_id == OUTBOX.c.chat_id,
    _OLDER.c.status == _STATUS_PENDING,
    _OLDER.c.id < OUTBOX.c.id,
)
"""The row is the oldest pending message of its chat: nothing queued earlier still waits."""

_DUE_HEADS = (
    select(OUTBOX.c.id, OUTBOX.c.chat_id)
    .where(_PENDING, OUTBOX.c.next_attempt_at <= _NOW, _FREE, _IS_CHAT_HEAD)
    .order_by(OUTBOX.c.next_attempt_at, OUTBOX.c.id)
    .limit(bindparam("chats"))
    # Locks the heads only; the head test reads the chat's older rows unlocked.
    .with_for_update(skip_locked=True, of=OUTBOX)
)
_QUEUED_BEHIND = (
    select(OUTBOX.c.id, OUTBOX.c.claimed_until, OUTBOX.c.next_attempt_at)
    .where(OUTBOX.c.chat_id == bindparam("chat_id"), _PENDING, OUTBOX.c.id > bindparam("head"))
    .order_by(OUTBOX.c.id)
    .limit(bindparam("run"))
    .with_for_update(of=OUTBOX)
)
_TAKE = (
    update(OutboxMessage)
    .where(OUTBOX.c.id.in_(bindparam("ids", expanding=True)), _PENDING, _FREE)
    .values(claimed_by=bindparam("worker"), claimed_until=bindparam("until"))
    .returning(OutboxMessage)
    .execution_options(synchronize_session=False)
)


def _card_id(chat_id: Any, message_id: Any) -> Any:
    """The draft's card id after `message_id` showing it went to `chat_id`: that message,
    unless the draft's card is a message of another chat (a copy in an allowed user's private
    chat must not take the place of the operator chat's card: message ids are per chat)."""
    card_elsewhere = exists().where(
        SHOWN.c.draft_id == DRAFTS.c.id,
        SHOWN.c.message_id == DRAFTS.c.telegram_message_id,
        SHOWN.c.chat_id != chat_id,
    )
    return case((card_elsewhere, DRAFTS.c.telegram_message_id), else_=message_id)


_SET_CARD = (
    update(DRAFTS)
    .where(DRAFTS.c.id == bindparam("draft_id"))
    .values(
        telegram_message_id=_card_id(bindparam("chat_id"), bindparam("message_id")),
        updated_at=_NOW,
    )
    .returning(DRAFTS.c.status)
)
_GIVEN = (
    func.unnest(
        bindparam("outbox_ids", type_=ARRAY(BigInteger)),
        bindparam("message_ids", type_=ARRAY(BigInteger)),
    )
    .table_valued(column("outbox_id", BigInteger), column("message_id", BigInteger))
    .render_derived(name="given")
)
_MARKED_SENT = (
    update(OUTBOX)
    .where(OUTBOX.c.id == _GIVEN.c.outbox_id, OUTBOX.c.status != "sent")
    .values(
        status="sent",
        message_id=_GIVEN.c.message_id,
        sent_at=_NOW,
        attempts=OUTBOX.c.attempts + 1,
        claimed_by=None,
        claimed_until=None,
        last_error=None,
    )
    .returning(OUTBOX.c.id, OUTBOX.c.draft_id, OUTBOX.c.chat_id, OUTBOX.c.message_id)
    .cte("sent")
)
_CARD = (
    update(DRAFTS)
    .where(DRAFTS.c.id == _MARKED_SENT.c.draft_id)
    .values(
        telegram_message_id=_card_id(_MARKED_SENT.c.chat_id, _MARKED_SENT.c.message_id),
        updated_at=_NOW,
    )
    .returning(DRAFTS.c.id, DRAFTS.c.status)
    .cte("card")
)
_SHOWN_COLUMNS = ["chat_id", "message_id", "draft_id", "created_at"]
_SHOWN = (
    pg_insert(SHOWN)
    .from_select(
        _SHOWN_COLUMNS,
        select(
            _MARKED_SENT.c.chat_id,
            _MARKED_SENT.c.message_id,
            _MARKED_SENT.c.draft_id,
            _NOW,
        ).where(_MARKED_SENT.c.draft_id.is_not(None)),
    )
    .on_conflict_do_nothing()
    .cte("shown")
)
_MARK_SENT_WITH_CARDS = HotStatement(
    select(_MARKED_SENT.c.id, _MARKED_SENT.c.draft_id, _CARD.c.status)
    .select_from(_MARKED_SENT.outerjoin(_CARD, _CARD.c.id == _MARKED_SENT.c.draft_id))
    .add_cte(_CARD, _SHOWN)
)
"""Marking a batch of rows sent, with each draft card's id on its draft and among the
messages showing it (`draft_messages`), as one PostgreSQL statement (data-modifying CTEs)."""
_MARK_ONE_SENT = (
    update(OUTBOX)
    .where(OUTBOX.c.id == bindparam("outbox_id"), OUTBOX.c.status != "sent")
    .values(
        status="sent",
        message_id=bindparam("message_id"),
        sent_at=_NOW,
        attempts=OUTBOX.c.attempts + 1,
        claimed_by=None,
        claimed_until=None,
        last_error=None,
    )
    .returning(OUTBOX.c.id, OUTBOX.c.draft_id, OUTBOX.c.chat_id)
)
"""The same for one row, on SQLite (no data-modifying CTEs there)."""


@dataclass(frozen=True)
class Marked:
    """A row just marked sent; for a draft's card, the draft and its status at that moment."""

    outbox_id: int
    draft_id: str | None
    draft_status: str | None


class MessageOptions(TypedDict, total=False):
    """What a queued message may ask of Telegram besides its chat and text (`enqueue` says
    what each means); left out, each is None (`silent`: False)."""

    reply_markup: dict[str, Any] | None
    draft_id: str | None
    edit_message_id: int | None
    reply_to_message_id: int | None
    silent: bool
    edit_outbox_id: int | None
    reply_to_outbox_id: int | None
    thread_id: str | None
    topic_id: int | None


_NO_OPTIONS: dict[str, Any] = {
    name: False if name == "silent" else None for name in MessageOptions.__annotations__
}


QUEUE = HotStatement(
    insert(OUTBOX)
    .values(
        {name: bindparam(name) for name in ("chat_id", "text", *MessageOptions.__annotations__)}
        | {
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": bindparam("now"),
            "created_at": bindparam("now"),
        }
    )
    .returning(OUTBOX.c.id)
)
"""Queueing a message, the one statement: `enqueue` runs it in a session, the webhooks' hot
path (storage/repo/reply_intake.py) on the driver; `queued` gives both its parameters."""


def queued(
    *, chat_id: int, text: str, now: datetime, **options: Unpack[MessageOptions]
) -> dict[str, Any]:
    """`QUEUE`'s parameters for a message."""
    return _NO_OPTIONS | dict(options) | {"chat_id": chat_id, "text": text, "now": now}


async def enqueue(
    *, session: AsyncSession, chat_id: int, text: str, **options: Unpack[MessageOptions]
) -> int:
    """Queue a message for `chat_id` and return its outbox id.

    `text` is HTML (the sender uses parse mode HTML): escape any outside text with
    `html.escape`. `reply_markup` is the Bot API's JSON form, such as
    `{"inline_keyboard": [[{"text": "OK", "callback_data": "..."}]]}`. With `draft_id`, the
    message is that draft's card: its Telegram message id is stored on the draft once sent.
    With `edit_message_id` the row edits that message instead (text and buttons; no
    `reply_markup` removes the buttons) — leave `draft_id` unset on edits.
    `reply_to_message_id` sends it as a reply; `silent` sends it without a notification.
    `edit_outbox_id` / `reply_to_outbox_id` name the message by the outbox row queued for it
    earlier (to the same chat, so sent before this one); if that row was never sent, this one
    is sent as a new message. `thread_id`: the client thread the message is about (in a forum
    chat, sent in that thread's topic); `topic_id`, for a message about no thread: the forum
    topic to send it in (where the command it answers was typed).
    Call the notifier's `kick()` after the commit so the sender wakes up at once.
    """
    params = queued(chat_id=chat_id, text=text, now=utcnow(), **options)
    result = await session.execute(QUEUE.core, params)
    return int(result.scalar_one())


async def latest_about(*, session: AsyncSession, chat_id: int, thread_id: str) -> int | None:
    """The Telegram message id of the latest message sent to `chat_id` about a thread."""
    return await session.scalar(
        select(OUTBOX.c.message_id)
        .where(
            OUTBOX.c.chat_id == chat_id,
            OUTBOX.c.thread_id == thread_id,
            OUTBOX.c.status == "sent",
        )
        .order_by(OUTBOX.c.id.desc())
        .limit(1)
    )


async def sent_message_id(*, session: AsyncSession, outbox_id: int) -> int | None:
    """The Telegram message id an outbox row became, once sent."""
    return await session.scalar(
        select(OUTBOX.c.message_id).where(OUTBOX.c.id == outbox_id, OUTBOX.c.status == "sent")
    )


async def claim(
    *,
    session: AsyncSession,
    worker: str,
    lease: timedelta,
    limit: int = 10,
    run: int = 1,
) -> Sequence[OutboxMessage]:
    """Claim the due heads of up to `limit` chats, oldest first, each with up to `run - 1` of
    the messages queued behind it; the rows come back in queue order.

    The claimed rows are this worker's until `lease` runs out: a worker that dies mid-send
    only delays its messages (and their chats). Send a chat's rows in order, and hand back
    with `release_claims` those left unsent once one fails.
    """
    now = utcnow()
    heads = (await session.execute(_DUE_HEADS, {"now": now, "chats": limit})).all()
    ids: list[int] = []
    for head, chat_id in heads:
        ids.append(head)
        if run > 1:
            behind = await session.execute(
                _QUEUED_BEHIND, {"chat_id": chat_id, "head": head, "run": run - 1}
            )
            for row_id, claimed_until, next_attempt_at in behind:
                if (claimed_until is not None and claimed_until >= now) or next_attempt_at > now:
                    break  # held, or waiting out a retry: the run ends before it
                ids.append(row_id)
    if not ids:
        return []
    claimed = await session.scalars(
        _TAKE, {"ids": ids, "now": now, "worker": worker, "until": now + lease}
    )
    return sorted(claimed.all(), key=lambda message: message.id or 0)


class Sent(NamedTuple):
    """A row Telegram took: the message it became, and the draft whose card it is."""

    outbox_id: int
    message_id: int
    draft_id: str | None = None


async def mark_sent(*, hot: HotPath, sent: Sequence[Sent]) -> list[Marked]:
    """Record the message ids of rows Telegram took, as one transaction; a
    draft card's id is copied onto its draft and recorded among the messages showing it
    (`draft_messages`). Returns the rows marked now (a row already marked sent is left out:
    nothing changes for it).

    A card whose draft is no longer pending by now (decided while the card waited) must be
    brought up to date by the caller: `Marked.draft_status` says so.

    One operation, chosen by the engine: on PostgreSQL the writes of the whole batch are one
    statement (the sender records what it sent in batches while it goes on sending: `python
    -m bench` "POST /webhook/upwork-response" and "POST /api/draft/create" measure it);
    SQLite has no data-modifying CTEs, so there the same writes run row by row in one
    transaction.
    """
    if not sent:
        return []
    now = utcnow()
    if hot.on_asyncpg:
        marked: list[Marked] = []
        for part in _one_card_per_draft(sent):
            rows = await hot.fetch(
                _MARK_SENT_WITH_CARDS,
                {
                    "outbox_ids": [row.outbox_id for row in part],
                    "message_ids": [row.message_id for row in part],
                    "now": now,
                },
            )
            marked += [Marked(row[0], row[1], row[2]) for row in rows]
        return marked
    marked = []
    async with hot.engine.begin() as connection:
        for outbox_id, message_id, _ in sent:
            values = {"outbox_id": outbox_id, "message_id": message_id, "now": now}
            row = (await connection.execute(_MARK_ONE_SENT, values)).one_or_none()
            if row is None:
                continue
            if row.draft_id is None:
                marked.append(Marked(outbox_id, None, None))
                continue
            status = (
                await connection.execute(
                    _SET_CARD, {**values, "draft_id": row.draft_id, "chat_id": row.chat_id}
                )
            ).scalar_one_or_none()
            await connection.execute(
                sqlite_insert(SHOWN)
                .values(
                    chat_id=row.chat_id,
                    message_id=message_id,
                    draft_id=row.draft_id,
                    created_at=now,
                )
                .on_conflict_do_nothing()
            )
            marked.append(Marked(outbox_id, row.draft_id, status))
    return marked


def _one_card_per_draft(sent: Sequence[Sent]) -> list[list[Sent]]:
    """`sent` cut in order before each row whose draft already has a card in the part: in one
    statement two cards of a draft (copies in two chats) would both see the draft as it was
    before it, and which one is the draft's card would be left to chance."""
    parts: list[list[Sent]] = [[]]
    drafts: set[str] = set()
    for row in sent:
        if row.draft_id is not None:
            if row.draft_id in drafts:
                parts.append([])
                drafts.clear()
            drafts.add(row.draft_id)
        parts[-1].append(row)
    return parts


async def reschedule(
    *, session: AsyncSession, outbox_id: int, next_attempt_at: datetime, error: str
) -> None:
    """Count the failed attempt, release the claim and try again at `next_attempt_at`."""
    row = OutboxMessage
    await session.execute(
        update(row)
        .where(col(row.id) == outbox_id, col(row.status) == "pending")
        .values(
            next_attempt_at=next_attempt_at,
            attempts=row.attempts + 1,
            claimed_by=None,
            claimed_until=None,
            last_error=error[:ERROR_MAX_CHARS],
        )
    )


async def mark_failed(*, session: AsyncSession, outbox_id: int, error: str) -> None:
    """Dead-letter a message (Telegram refuses it for good, or it failed too often): its chat's
    later messages go on without it. `next_attempt_at` records when it was given up."""
    row = OutboxMessage
    await session.execute(
        update(row)
        .where(col(row.id) == outbox_id, col(row.status) == "pending")
        .values(
            status="failed",
            next_attempt_at=utcnow(),
            attempts=row.attempts + 1,
            claimed_by=None,
            claimed_until=None,
            last_error=error[:ERROR_MAX_CHARS],
        )
    )


async def release_claims(
    *, session: AsyncSession, worker: str, ids: Sequence[int] | None = None
) -> None:
    """Hand back the rows `worker` still holds (only `ids`, when given), due again at once."""
    row = OutboxMessage
    statement = update(row).where(col(row.claimed_by) == worker, col(row.status) == "pending")
    if ids is not None:
        statement = statement.where(col(row.id).in_(ids))
    await session.execute(statement.values(claimed_by=None, claimed_until=None))


async def next_due_at(*, session: AsyncSession) -> datetime | None:
    """When the earliest chat head becomes claimable (None: nothing is pending).

    Rows behind a head are left out: they are due, yet wait for it.
    """
    claimable_at = case(
        (OUTBOX.c.claimed_until > OUTBOX.c.next_attempt_at, OUTBOX.c.claimed_until),
        else_=OUTBOX.c.next_attempt_at,
    )
    earliest = type_coerce(func.min(claimable_at), UTCDateTime())
    return await session.scalar(select(earliest).where(_PENDING, _IS_CHAT_HEAD))


async def count_dead_since(*, session: AsyncSession, since: datetime) -> int:
    """Messages dead-lettered (status `failed`) since `since`."""
    return int(
        await session.scalar(
            select(func.count())
            .select_from(OUTBOX)
            .where(OUTBOX.c.status == "failed", OUTBOX.c.next_attempt_at >= since)
        )
        or 0
    )
