"""What the delivery tests share: short retry waits, a receiver fixture, settings and helpers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.delivery.tuning import DeliveryTuning
from bot.settings import Settings
from storage.models import Delivery, Thread, ThreadMessage
from storage.types import utcnow
from tests.delivery_receiver import SECRET, Receiver

FAST_DELIVERY = DeliveryTuning(
    retry_waits_s=(0.05, 0.1, 0.2, 0.3),
    give_up_after_s=600.0,
    request_timeout_s=2.0,
    idle_check_s=0.2,
    claim_margin_s=2.0,
    shutdown_grace_s=1.0,
)
"""Retries in milliseconds, and a day that lasts long enough never to end during a test."""


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = await Receiver().start()
    yield found
    await found.stop()


def delivery_settings(
    telegram_settings: Callable[..., Settings], receiver: Receiver, **overrides: Any
) -> Settings:
    from tests.telegram_support import free_port

    values = {
        "port": free_port(),
        "delivery_webhook_url": receiver.url,
        "delivery_webhook_secret": SECRET,
    }
    return telegram_settings(**(values | overrides))


async def deliveries_of(db: async_sessionmaker[AsyncSession], draft_id: str) -> list[Delivery]:
    async with db() as session:
        rows = await session.scalars(
            select(Delivery).where(Delivery.draft_id == draft_id).order_by(Delivery.id)  # type: ignore[arg-type]
        )
        return list(rows.all())


async def new_thread(db: async_sessionmaker[AsyncSession], client: str = "Acme") -> str:
    """A thread whose client waits on one message."""
    now = utcnow()
    thread = Thread(
        id="0b9f3f8e-5d2a-4c1e-9a7b-3c2d1e0f9a8b",
        platform="upwork",
        client=client,
        job_title="Telegram bot",
        created_at=now,
        last_message_at=now,
        waiting_since=now,
    )
    async with db() as session, session.begin():
        session.add(thread)
        await session.flush()
        session.add(
            ThreadMessage(thread_id=thread.id, direction="in", text="Can you start?", at=now)
        )
    return thread.id
