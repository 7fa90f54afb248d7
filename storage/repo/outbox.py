"""The durable outbox of operator messages: written with the change it reports, sent later.

Any part of the process that wants to tell the operator something calls `enqueue` inside its
own transaction; if that transaction rolls back, nothing is sent, and once it commits the
message is sent even if Telegram is down right now or the process restarts. The sender
claims due rows with a lease, so two processes on one PostgreSQL never send the same row at
the same time (`FOR UPDATE SKIP LOCKED`; SQLite has one writer at a time anyway).

Messages to one chat go out in the order they were queued: only a chat's oldest pending row
(its head) can be claimed, so a newer message never overtakes one that waits on a retry, and
the head's backoff holds back the whole chat.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, exists, func, insert, or_, select, type_coerce, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from storage.models import Draft, OutboxMessage
from storage.types import UTCDateTime, utcnow

ERROR_MAX_CHARS = 500


async def enqueue(
    *,
    session: AsyncSession,
    chat_id: int,
    text: str,
    reply_markup: dict[str, Any] | None = None,
    draft_id: str | None = None,
) -> int:
    """Queue a message for `chat_id` and return its outbox id.

    `text` is HTML (the sender uses parse mode HTML): escape any outside text with
    `html.escape`. `reply_markup` is the Bot API's JSON form, such as
    `{"inline_keyboard": [[{"text": "OK", "callback_data": "..."}]]}`. With `draft_id`, the
    message is that draft's card: its Telegram message id is stored on the draft once sent.
    Call the notifier's `kick()` after the commit so the sender wakes up at once.
    """
    now = utcnow()
    result = await session.execute(
        insert(OutboxMessage)
        .values(
            chat_id=chat_id,
            text=text,
            reply_markup=reply_markup,
            draft_id=draft_id,
            status="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
        .returning(OutboxMessage.id)
    )
    return int(result.scalar_one())


async def get(*, session: AsyncSession, outbox_id: int) -> OutboxMessage | None:
    return await session.get(OutboxMessage, outbox_id)


def _is_chat_head() -> Any:
    """The row is the oldest pending message of its chat: nothing queued earlier still waits."""
    row, older = OutboxMessage, aliased(OutboxMessage)
    return ~exists().where(
        older.chat_id == row.chat_id,
        older.status == "pending",
        older.id < row.id,  # type: ignore[operator]
    )


def _claimable(now: datetime) -> Any:
    row = OutboxMessage
    return (
        (row.status == "pending")
        & (row.next_attempt_at <= now)
        & or_(row.claimed_until.is_(None), row.claimed_until < now)  # type: ignore[union-attr]
        & _is_chat_head()
    )


async def claim(
    *,
    session: AsyncSession,
    worker: str,
    lease: timedelta,
    limit: int = 10,
    outbox_id: int | None = None,
) -> Sequence[OutboxMessage]:
    """Claim up to `limit` due chat heads (or just `outbox_id`, if it is one), oldest first.

    At most one row per chat: a chat's next message becomes claimable only once its head is
    sent or given up, which keeps each chat's messages in the order they were queued. A
    claimed row is this worker's until `lease` runs out; a worker that dies mid-send thus
    only delays the message (and its chat). Each claim counts as one attempt.
    """
    now = utcnow()
    row = OutboxMessage
    candidates = (
        select(row.id)
        .where(_claimable(now))
        .order_by(row.next_attempt_at, row.id)  # type: ignore[arg-type]
        .limit(limit)
        # Locks the candidate rows only; the head test reads the chat's older rows unlocked.
        .with_for_update(skip_locked=True, of=row)
    )
    if outbox_id is not None:
        candidates = candidates.where(row.id == outbox_id)
    ids = list((await session.scalars(candidates)).all())
    if not ids:
        return []
    claimed = await session.scalars(
        update(row)
        .where(row.id.in_(ids), _claimable(now))  # type: ignore[union-attr]
        .values(claimed_by=worker, claimed_until=now + lease, attempts=row.attempts + 1)
        .returning(row)
        .execution_options(synchronize_session=False)
    )
    return sorted(claimed.all(), key=lambda message: message.id or 0)


async def mark_sent(*, session: AsyncSession, outbox_id: int, message_id: int) -> bool:
    """Record Telegram's message id; a draft card's id is copied onto the draft.

    Returns False when the row was already marked sent (nothing is changed then).
    """
    now = utcnow()
    row = OutboxMessage
    draft_id = (
        await session.execute(
            update(row)
            .where(row.id == outbox_id, row.status != "sent")
            .values(
                status="sent",
                message_id=message_id,
                sent_at=now,
                claimed_by=None,
                claimed_until=None,
                last_error=None,
            )
            .returning(row.draft_id)
        )
    ).one_or_none()
    if draft_id is None:
        return False
    if draft_id[0] is not None:
        await session.execute(
            update(Draft)
            .where(Draft.id == draft_id[0])  # type: ignore[arg-type]
            .values(telegram_message_id=message_id, updated_at=now)
        )
    return True


async def reschedule(
    *, session: AsyncSession, outbox_id: int, next_attempt_at: datetime, error: str
) -> None:
    """Release the claim and try again at `next_attempt_at`."""
    row = OutboxMessage
    await session.execute(
        update(row)
        .where(row.id == outbox_id, row.status == "pending")
        .values(
            next_attempt_at=next_attempt_at,
            claimed_by=None,
            claimed_until=None,
            last_error=error[:ERROR_MAX_CHARS],
        )
    )


async def mark_failed(*, session: AsyncSession, outbox_id: int, error: str) -> None:
    """Give up on a message Telegram refuses for good (400/403): retrying cannot help."""
    row = OutboxMessage
    await session.execute(
        update(row)
        .where(row.id == outbox_id, row.status == "pending")
        .values(
            status="failed",
            claimed_by=None,
            claimed_until=None,
            last_error=error[:ERROR_MAX_CHARS],
        )
    )


async def release_claims(*, session: AsyncSession, worker: str) -> None:
    """Hand back every row `worker` still holds (on shutdown), due again at once."""
    row = OutboxMessage
    await session.execute(
        update(row)
        .where(row.claimed_by == worker, row.status == "pending")
        .values(claimed_by=None, claimed_until=None)
    )


async def next_due_at(*, session: AsyncSession) -> datetime | None:
    """When the earliest chat head becomes claimable (None: nothing is pending).

    Rows behind a head are left out: they are due, yet wait for it.
    """
    row = OutboxMessage
    claimable_at = case(
        (row.claimed_until > row.next_attempt_at, row.claimed_until),  # type: ignore[operator]
        else_=row.next_attempt_at,
    )
    earliest = type_coerce(func.min(claimable_at), UTCDateTime())
    return await session.scalar(select(earliest).where(row.status == "pending", _is_chat_head()))


async def count_pending(*, session: AsyncSession) -> int:
    row = OutboxMessage
    return int(
        await session.scalar(select(func.count()).select_from(row).where(row.status == "pending"))
        or 0
    )
