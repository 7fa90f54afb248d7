"""Deliveries of approved replies to the delivery webhook (CONTRACT §11), durable in the database.

Approving a draft calls `queue_delivery` in the approval's own transaction: if the approval
rolls back, nothing is delivered; once it commits, the delivery happens even across restarts.
Whether deliveries are on is a property of the process (DELIVERY_WEBHOOK_URL), which storage
does not read: the delivery worker `enable`s the engine it uses at start-up, so every approve
path (Telegram, the Mini App, …) can call `queue_delivery` unconditionally.

Workers claim due rows with a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite has one
writer at a time), so two processes never make the same attempt; a worker that dies mid-attempt
only delays the row until its lease runs out, and the retry carries the same `webhook-id`.
"""

from __future__ import annotations

import uuid
import weakref
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import Engine, event, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from storage.models import Delivery
from storage.types import utcnow

ERROR_MAX_CHARS = 500
ACTIVE = ("pending", "succeeded")
"""A draft with a delivery in one of these states gets no other."""

_enabled: weakref.WeakKeyDictionary[Engine, Callable[[], None]] = weakref.WeakKeyDictionary()


def enable(engine: AsyncEngine, wake: Callable[[], None]) -> None:
    """Deliveries are on for sessions of `engine`; `wake` runs after a commit that queued one."""
    _enabled[engine.sync_engine] = wake


def disable(engine: AsyncEngine) -> None:
    _enabled.pop(engine.sync_engine, None)


def _waker(session: AsyncSession) -> Callable[[], None] | None:
    bind = session.bind
    if bind is None:
        return None
    engine = bind.sync_engine if isinstance(bind, AsyncEngine) else bind.engine
    return _enabled.get(engine)  # type: ignore[arg-type]


async def queue_delivery(*, session: AsyncSession, draft_id: str) -> None:
    """Queue the delivery of approved draft `draft_id`, in the caller's transaction.

    Does nothing when deliveries are off in this process, or when the draft already has a
    delivery under way or done (so approving twice, or from two places, delivers once).
    """
    wake = _waker(session)
    if wake is None:
        return
    under_way = await session.scalar(
        select(Delivery.id)  # type: ignore[call-overload]
        .where(Delivery.draft_id == draft_id, Delivery.status.in_(ACTIVE))  # type: ignore[attr-defined]
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
        .where(Delivery.draft_id == draft_id)  # type: ignore[arg-type]
        .order_by(Delivery.id.desc())  # type: ignore[union-attr]
        .limit(1)
    )


async def get(*, session: AsyncSession, delivery_id: int) -> Delivery | None:
    return await session.get(Delivery, delivery_id)


async def claim(
    *, session: AsyncSession, worker: str, lease: timedelta, limit: int
) -> Sequence[Delivery]:
    """Claim up to `limit` due deliveries for `worker` until `lease` runs out, oldest due first."""
    now = utcnow()
    free = or_(Delivery.claimed_until.is_(None), Delivery.claimed_until < now)  # type: ignore[union-attr, operator, arg-type]
    due = (
        select(Delivery.id)  # type: ignore[call-overload]
        .where(Delivery.status == "pending", Delivery.next_attempt_at <= now, free)  # type: ignore[arg-type]
        .order_by(Delivery.next_attempt_at, Delivery.id)  # type: ignore[arg-type]
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = list((await session.scalars(due)).all())
    if not ids:
        return []
    claimed = await session.scalars(
        update(Delivery)
        .where(Delivery.id.in_(ids), Delivery.status == "pending", free)  # type: ignore[union-attr, arg-type]
        .values(claimed_by=worker, claimed_until=now + lease)
        .returning(Delivery)
        .execution_options(synchronize_session=False)
    )
    return sorted(claimed.all(), key=lambda row: row.id or 0)


async def set_body(*, session: AsyncSession, delivery_id: int, body: str) -> str:
    """Fix the delivery's body once (the first attempt's); returns the body it has."""
    await session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.body.is_(None))  # type: ignore[arg-type, union-attr]
        .values(body=body)
    )
    stored = await session.scalar(
        select(Delivery.body).where(Delivery.id == delivery_id)  # type: ignore[call-overload]
    )
    return stored or body


def _mine(delivery_id: int, worker: str) -> list[object]:
    return [
        Delivery.id == delivery_id,
        Delivery.status == "pending",
        Delivery.claimed_by == worker,
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
            .where(*_mine(delivery_id, worker))  # type: ignore[arg-type]
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
            .where(*_mine(delivery_id, worker))  # type: ignore[arg-type]
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
        .where(Delivery.claimed_by == worker, Delivery.status == "pending")  # type: ignore[arg-type]
        .values(claimed_by=None, claimed_until=None)
    )


async def next_due_at(*, session: AsyncSession) -> datetime | None:
    """When the earliest pending delivery falls due (None: nothing is pending)."""
    rows = await session.execute(
        select(Delivery.next_attempt_at, Delivery.claimed_until)  # type: ignore[call-overload]
        .where(Delivery.status == "pending")  # type: ignore[arg-type]
        .order_by(Delivery.next_attempt_at)  # type: ignore[arg-type]
        .limit(1)
    )
    row = rows.first()
    if row is None:
        return None
    due, claimed_until = row
    return max(due, claimed_until) if claimed_until is not None else due
