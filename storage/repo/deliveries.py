"""Deliveries of approved replies to the delivery webhook (CONTRACT §11), durable in the database.

Approving a draft calls `queue_delivery` in the approval's own transaction: if the approval
rolls back, nothing is delivered; once it commits, the delivery happens even across restarts.
Whether deliveries are on is a property of the process (DELIVERY_WEBHOOK_URL), which storage
does not read: the caller is given the delivery worker's `Wake` by whoever composes the
process (bot/service.py), or None when deliveries are off.

Workers claim due rows with a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite has one
writer at a time), so two processes never make the same attempt; a worker that dies mid-attempt
only delays the row until its lease runs out, and the retry carries the same `webhook-id`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, event, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.models import Delivery
from storage.types import utcnow

ERROR_MAX_CHARS = 500
ACTIVE = ("pending", "succeeded")
"""A draft with a delivery in one of these states gets no other."""

Wake = Callable[[], None]
"""Wakes the process's delivery worker once a transaction that queued a delivery commits."""


async def queue_delivery(*, session: AsyncSession, draft_id: str, wake: Wake) -> None:
    """Queue the delivery of approved draft `draft_id`, in the caller's transaction; `wake`
    runs after the commit.

    Does nothing when the draft already has a delivery under way or done (so approving twice,
    or from two places, delivers once).
    """
    under_way = await session.scalar(
        select(col(Delivery.id))
        .where(col(Delivery.draft_id) == draft_id, col(Delivery.status).in_(ACTIVE))
        .limit(1)
    )
    if under_way is not None:
        return
    now = utcnow()
    session.add(
        Delivery(
            draft_id=draft_id,
            webhook_id=f"msg_{uuid.uuid4().hex}",
            status="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    )
    await session.flush()
    event.listen(session.sync_session, "after_commit", lambda _session: wake(), once=True)


async def latest(*, session: AsyncSession, draft_id: str) -> Delivery | None:
    """The draft's most recent delivery (a redelivery is newer than the one that failed)."""
    return await session.scalar(
        select(Delivery)
        .where(col(Delivery.draft_id) == draft_id)
        .order_by(col(Delivery.id).desc())
        .limit(1)
    )


async def get(*, session: AsyncSession, delivery_id: int) -> Delivery | None:
    return await session.get(Delivery, delivery_id)


async def claim(
    *, session: AsyncSession, worker: str, lease: timedelta, limit: int
) -> Sequence[Delivery]:
    """Claim up to `limit` due deliveries for `worker` until `lease` runs out, oldest due first."""
    now = utcnow()
    free = or_(col(Delivery.claimed_until).is_(None), col(Delivery.claimed_until) < now)
    due = (
        select(col(Delivery.id))
        .where(col(Delivery.status) == "pending", col(Delivery.next_attempt_at) <= now, free)
        .order_by(col(Delivery.next_attempt_at), col(Delivery.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = list((await session.scalars(due)).all())
    if not ids:
        return []
    claimed = await session.scalars(
        update(Delivery)
        .where(col(Delivery.id).in_(ids), col(Delivery.status) == "pending", free)
        .values(claimed_by=worker, claimed_until=now + lease)
        .returning(Delivery)
        .execution_options(synchronize_session=False)
    )
    return sorted(claimed.all(), key=lambda row: row.id or 0)


async def set_body(*, session: AsyncSession, delivery_id: int, body: str) -> str:
    """Fix the delivery's body once (the first attempt's); returns the body it has."""
    await session.execute(
        update(Delivery)
        .where(col(Delivery.id) == delivery_id, col(Delivery.body).is_(None))
        .values(body=body)
    )
    stored = await session.scalar(
        select(col(Delivery.body)).where(col(Delivery.id) == delivery_id)
    )
    return stored or body


def _mine(delivery_id: int, worker: str) -> list[ColumnElement[bool]]:
    return [
        col(Delivery.id) == delivery_id,
        col(Delivery.status) == "pending",
        col(Delivery.claimed_by) == worker,
    ]


async def finish(
    *,
    session: AsyncSession,
    delivery_id: int,
    worker: str,
    status: str,
    http_status: int | None,
    error: str | None,
) -> Delivery | None:
    """End the delivery as `succeeded` or `failed`; None when `worker` no longer holds it."""
    now = utcnow()
    return (
        await session.scalars(
            update(Delivery)
            .where(*_mine(delivery_id, worker))
            .values(
                status=status,
                attempts=Delivery.attempts + 1,
                last_status=http_status,
                last_error=None if error is None else error[:ERROR_MAX_CHARS],
                finished_at=now,
                claimed_by=None,
                claimed_until=None,
            )
            .returning(Delivery)
            .execution_options(synchronize_session=False)
        )
    ).one_or_none()


async def reschedule(
    *,
    session: AsyncSession,
    delivery_id: int,
    worker: str,
    next_attempt_at: datetime,
    http_status: int | None,
    error: str,
) -> Delivery | None:
    """Count the failed attempt and try again at `next_attempt_at`; None if no longer ours."""
    return (
        await session.scalars(
            update(Delivery)
            .where(*_mine(delivery_id, worker))
            .values(
                attempts=Delivery.attempts + 1,
                next_attempt_at=next_attempt_at,
                last_status=http_status,
                last_error=error[:ERROR_MAX_CHARS],
                claimed_by=None,
                claimed_until=None,
            )
            .returning(Delivery)
            .execution_options(synchronize_session=False)
        )
    ).one_or_none()


async def release_claims(*, session: AsyncSession, worker: str) -> None:
    """Hand back what `worker` still holds (it is stopping): due again at once."""
    await session.execute(
        update(Delivery)
        .where(col(Delivery.claimed_by) == worker, col(Delivery.status) == "pending")
        .values(claimed_by=None, claimed_until=None)
    )


async def next_due_at(*, session: AsyncSession) -> datetime | None:
    """When the earliest pending delivery falls due (None: nothing is pending)."""
    rows = await session.execute(
        select(col(Delivery.next_attempt_at), col(Delivery.claimed_until))
        .where(col(Delivery.status) == "pending")
        .order_by(col(Delivery.next_attempt_at))
        .limit(1)
    )
    row = rows.first()
    if row is None:
        return None
    due, claimed_until = row
    return max(due, claimed_until) if claimed_until is not None else due
