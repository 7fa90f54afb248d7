"""Retention: rows that only served a purpose for a while are deleted once it has passed.

- sent outbox messages after `SENT_OUTBOX_KEPT` (a pending draft's card is kept: it may still
  be edited);
- idempotency keys after `IDEMPOTENCY_KEPT` (a client retries within minutes, not days);
- webhook deliveries after the 24 h window in which a replayed body is recognised (a signed
  id outlives its 300 s timestamp tolerance long before that), except those whose signature
  had no timestamp: nothing else tells their replay from a new delivery.

Each kind is deleted in batches of `batch` rows, each batch a transaction of its own, so no
pass holds locks for long. The events table is never touched: it is append-only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Column, ColumnElement, CursorResult, Delete, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import Draft, IdempotencyKey, OutboxMessage, WebhookDelivery
from storage.repo.webhook_deliveries import BODY_DEDUP_WINDOW
from storage.types import utcnow

SENT_OUTBOX_KEPT = timedelta(days=7)
IDEMPOTENCY_KEPT = timedelta(hours=24)
WEBHOOK_DELIVERIES_KEPT = BODY_DEDUP_WINDOW
BATCH = 500


@dataclass(frozen=True)
class Pruned:
    outbox: int
    idempotency_keys: int
    webhook_deliveries: int


async def prune(
    db: async_sessionmaker[AsyncSession], *, now: datetime | None = None, batch: int = BATCH
) -> Pruned:
    """Delete every expired row, `batch` rows per transaction; returns how many of each."""
    now = now or utcnow()
    outbox = OutboxMessage.__table__.c
    keys = IdempotencyKey.__table__.c
    deliveries = WebhookDelivery.__table__.c
    pending_card = select(Draft.__table__.c.id).where(Draft.__table__.c.status == "pending")
    sent_outbox = [
        outbox.status == "sent",
        outbox.sent_at < now - SENT_OUTBOX_KEPT,
        or_(outbox.draft_id.is_(None), outbox.draft_id.not_in(pending_card)),
    ]
    return Pruned(
        outbox=await _in_batches(db, outbox.id, sent_outbox, batch),
        idempotency_keys=await _in_batches(
            db, keys.key, [keys.created_at < now - IDEMPOTENCY_KEPT], batch
        ),
        webhook_deliveries=await _in_batches(
            db,
            deliveries.id,
            [deliveries.received_at < now - WEBHOOK_DELIVERIES_KEPT],
            batch,
        ),
    )


async def _in_batches(
    db: async_sessionmaker[AsyncSession],
    key: Column[Any],
    expired: list[ColumnElement[bool]],
    batch: int,
) -> int:
    """Delete the rows matching `expired` (the rows of `key`'s table), `batch` at a time."""
    chosen = select(key).where(*expired).limit(batch)
    statement: Delete = delete(key.table).where(key.in_(chosen.scalar_subquery()))
    total = 0
    while True:
        async with db() as session, session.begin():
            result = await session.execute(statement)
            # A DELETE runs on a cursor; the session's stubs only say Result.
            deleted = cast("CursorResult[Any]", result).rowcount or 0
        total += deleted
        if deleted < batch:
            return total
