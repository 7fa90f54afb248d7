"""Retention: expired outbox rows, idempotency keys and webhook deliveries are pruned, exactly
those, in bounded batches, by a task the service starts; events are never touched."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.service import serve
from bot.settings import Settings
from storage.models import Draft, Event, IdempotencyKey, OutboxMessage, WebhookDelivery
from storage.repo import retention
from storage.types import utcnow
from tests.service_process import free_port

Db = async_sessionmaker[AsyncSession]
DAY, HOUR, MINUTE = timedelta(days=1), timedelta(hours=1), timedelta(minutes=1)


def draft(draft_id: str, status: str) -> Draft:
    return Draft(
        id=draft_id,
        client="Acme",
        job_title="Bot",
        message="Hi",
        draft_text="Hello",
        confidence=80,
        status=status,
    )


def sent(text: str, age: timedelta, *, status: str = "sent", draft_id: str | None = None) -> Any:
    at = utcnow() - age
    return OutboxMessage(
        chat_id=1,
        text=text,
        status=status,
        draft_id=draft_id,
        created_at=at,
        sent_at=at if status == "sent" else None,
    )


async def seed(db: Db) -> None:
    """Expired rows are named `expired…`; every other row must survive."""
    now = utcnow()
    async with db() as session, session.begin():
        session.add_all([draft("pending-draft", "pending"), draft("decided-draft", "approved")])
        await session.flush()
        session.add_all(
            [
                sent("expired-plain", 7 * DAY + MINUTE),
                sent("expired-card-of-a-decided-draft", 30 * DAY, draft_id="decided-draft"),
                sent("kept-card-of-a-pending-draft", 30 * DAY, draft_id="pending-draft"),
                sent("kept-recent", 7 * DAY - MINUTE),
                sent("kept-unsent", 30 * DAY, status="pending"),
                sent("kept-failed", 30 * DAY, status="failed"),
                *[
                    IdempotencyKey(
                        key=f"expired-{n}", request_hash="h", response={}, created_at=now - age
                    )
                    for n, age in enumerate([24 * HOUR + MINUTE, 3 * DAY, 90 * DAY])
                ],
                IdempotencyKey(
                    key="kept", request_hash="h", response={}, created_at=now - 23 * HOUR
                ),
                WebhookDelivery(
                    webhook_id="expired",
                    body_hash="a" * 64,
                    timestamped=True,
                    route="/r",
                    received_at=now - DAY,
                ),
                WebhookDelivery(
                    body_hash="b" * 64, timestamped=True, route="/r", received_at=now - 2 * DAY
                ),
                WebhookDelivery(
                    webhook_id="kept",
                    body_hash="c" * 64,
                    timestamped=True,
                    route="/r",
                    received_at=now - 23 * HOUR,
                ),
                # Signed without a timestamp: a duplicate for 24 h too (CONTRACT §4).
                WebhookDelivery(body_hash="d" * 64, route="/r", received_at=now - DAY - MINUTE),
                Event(event="old.event@1.0", timestamp=now - 365 * DAY, payload={}),
            ]
        )


async def remaining(db: Db) -> dict[str, list[Any]]:
    async with db() as session:
        return {
            "outbox": sorted(await session.scalars(select(OutboxMessage.text))),
            "keys": sorted(await session.scalars(select(IdempotencyKey.key))),
            "deliveries": sorted(
                str(row) for row in await session.scalars(select(WebhookDelivery.body_hash)) if row
            ),
            "events": list(await session.scalars(select(Event.event))),
        }


EXPECTED_REMAINING = {
    "outbox": ["kept-card-of-a-pending-draft", "kept-failed", "kept-recent", "kept-unsent"],
    "keys": ["kept"],
    "deliveries": ["c" * 64],
    "events": ["old.event@1.0"],
}


async def test_prune_deletes_exactly_the_expired_rows_in_bounded_batches(db: Db) -> None:
    await seed(db)

    pruned = await retention.prune(db, batch=2)

    assert pruned == retention.Pruned(outbox=2, idempotency_keys=3, webhook_deliveries=3)
    assert await remaining(db) == EXPECTED_REMAINING
    assert await retention.prune(db) == retention.Pruned(0, 0, 0)


async def test_the_service_prunes_on_its_schedule(
    make_settings: Callable[..., Settings], db: Db
) -> None:
    await seed(db)
    stop = asyncio.Event()
    settings = make_settings(port=free_port(), retention_interval_s=0.05)
    service = asyncio.create_task(serve(settings, stop))
    try:
        for _ in range(300):
            if service.done() or await remaining(db) == EXPECTED_REMAINING:
                break
            await asyncio.sleep(0.05)
        assert await remaining(db) == EXPECTED_REMAINING
        # Rows that expire while it runs go on the next pass.
        async with db() as session, session.begin():
            session.add(
                IdempotencyKey(
                    key="late", request_hash="h", response={}, created_at=utcnow() - 2 * DAY
                )
            )
        for _ in range(300):
            if service.done() or await remaining(db) == EXPECTED_REMAINING:
                break
            await asyncio.sleep(0.05)
        assert await remaining(db) == EXPECTED_REMAINING
    finally:
        stop.set()
        await asyncio.wait_for(service, timeout=30)
