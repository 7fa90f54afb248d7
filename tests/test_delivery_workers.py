"""Two delivery workers (two processes' worth: each its own engine) on one database: every
delivery is attempted by one of them at a time, so each reply reaches the receiver once."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.delivery.worker import DeliveryWorker
from bot.settings import Settings
from storage.engine import create_engine, session_factory
from storage.models import Delivery, Draft
from storage.repo import deliveries, drafts
from tests.delivery_receiver import SECRET, Receiver
from tests.delivery_support import FAST_DELIVERY

REPLIES = 12


async def queue_approved_drafts(engine_db: async_sessionmaker[AsyncSession], count: int) -> None:
    async with engine_db() as session, session.begin():
        for n in range(count):
            draft = drafts.new(
                client=f"Client {n}",
                job_title="Job",
                message="Hello?",
                draft_text=f"Reply {n}",
                confidence=80,
                context={},
                citizen="rafael",
                status="approved",
            )
            session.add(draft)
            await session.flush()
            await deliveries.queue_delivery(session=session, draft_id=draft.id, wake=lambda: None)


async def test_two_workers_on_one_database_deliver_each_reply_once(
    make_settings: Callable[..., Settings], engine: AsyncEngine, receiver: Receiver
) -> None:
    settings = make_settings(delivery_webhook_url=receiver.url, delivery_webhook_secret=SECRET)
    receiver.answer_next(500, times=4, delay_s=0.1)
    receiver.answer_next(200, times=REPLIES, delay_s=0.1)  # slow: both workers claim meanwhile
    engines = [engine, create_engine(settings.database_url)]
    workers = [DeliveryWorker(settings, engine, FAST_DELIVERY) for engine in engines]
    db = session_factory(engines[0])
    try:
        for worker in workers:
            worker.start()
        await queue_approved_drafts(db, REPLIES)
        for worker in workers:
            worker.kick()
        async with asyncio.timeout(60):
            while await _count(db, Draft.status == "sent") < REPLIES:
                await asyncio.sleep(0.05)
    finally:
        for worker in workers:
            await worker.stop()
        await engines[1].dispose()

    accepted = Counter(r.webhook_id for r in receiver.accepted())
    assert len(accepted) == REPLIES and set(accepted.values()) == {1}
    assert all(r.verified for r in receiver.received)
    # Each attempt was made once: as many requests as attempts recorded.
    async with db() as session:
        attempts = await session.scalar(select(func.sum(Delivery.attempts)))
    assert attempts == len(receiver.received) == REPLIES + 4


async def _count(db: async_sessionmaker[AsyncSession], condition: object) -> int:
    async with db() as session:
        return int(
            await session.scalar(select(func.count()).select_from(Draft).where(condition)) or 0  # type: ignore[arg-type]
        )
