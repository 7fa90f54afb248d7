"""Signed webhook deliveries already acted on, so a replayed delivery launches nothing.

A delivery is recorded in the same transaction as the session it queues: when that
transaction fails, the delivery stays unseen and a retry (Zapier's auto-replay) goes through.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.models import WebhookDelivery
from storage.types import utcnow

BODY_DEDUP_WINDOW = timedelta(hours=24)


async def seen(*, session: AsyncSession, webhook_id: str | None, body_hash: str) -> bool:
    """Was this delivery acted on: the same signed id ever, or (without one) the same signed
    bytes in 24 h? `body_hash` hashes exactly what the signature covers (CONTRACT §4).

    Call it in the transaction that will `record` the delivery. Without an id it serializes
    on the body hash (a transaction-level advisory lock on PostgreSQL; SQLite's BEGIN
    IMMEDIATE already serializes writers), so two identical concurrent deliveries launch once.
    With an id, the unique constraint settles the race at `record`.
    """
    if webhook_id is not None:
        query = select(col(WebhookDelivery.id)).where(
            col(WebhookDelivery.webhook_id) == webhook_id
        )
        return (await session.scalar(query.limit(1))) is not None
    if session.get_bind().dialect.name == "postgresql":
        lock_key = int.from_bytes(bytes.fromhex(body_hash[:16]), "big", signed=True)
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key})
    query = select(col(WebhookDelivery.id)).where(
        col(WebhookDelivery.body_hash) == body_hash,
        col(WebhookDelivery.received_at) >= utcnow() - BODY_DEDUP_WINDOW,
    )
    return (await session.scalar(query.limit(1))) is not None


async def record(
    *,
    session: AsyncSession,
    webhook_id: str | None,
    body_hash: str,
    route: str,
    session_id: str | None,
) -> None:
    """Remember the delivery; a concurrent twin with the same id fails with IntegrityError."""
    session.add(
        WebhookDelivery(
            webhook_id=webhook_id, body_hash=body_hash, route=route, session_id=session_id
        )
    )
    await session.flush()
