"""A delivery survives `kill -9`: the real service as a child process approves a draft while
the receiver fails, is killed mid-retries and started again on the same database; the reply
then arrives once, with the `webhook-id` it had before the kill."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select

from bot.settings import Settings
from storage.engine import create_engine, session_factory
from storage.models import Delivery, Draft
from tests.delivery_receiver import SECRET, Receiver
from tests.fake_telegram import FakeTelegram
from tests.reliability.service_runs import AUTH, ServiceRun, bot_service_env, post
from tests.service_process import free_port
from tests.telegram_support import DRAFT
from tests.telegram_updates import callback_query_update

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(120)]


async def test_a_kill_between_retries_still_delivers_the_reply_once_with_its_id(
    settings: Settings, fake_telegram: FakeTelegram, receiver: Receiver, tmp_path: Path
) -> None:
    env = bot_service_env(
        settings.database_url,
        fake_telegram.base_url,
        DELIVERY_WEBHOOK_URL=receiver.url,
        DELIVERY_WEBHOOK_SECRET=SECRET,
    )
    service = ServiceRun(env, tmp_path, free_port())
    engine = create_engine(settings.database_url)
    db = session_factory(engine)
    receiver.answer_next(500, times=10_000)

    async def delivery() -> Delivery | None:
        async with db() as session:
            return await session.scalar(select(Delivery))

    async def draft_status(draft_id: str) -> str | None:
        async with db() as session:
            draft = await session.get(Draft, draft_id)
            return None if draft is None else draft.status

    async with aiohttp.ClientSession(headers=AUTH) as http:
        try:
            await service.start(http)
            status, created = await post(http, f"{service.url}/api/draft/create", DRAFT)
            assert status == 201, created
            draft_id = created["draft_id"]
            card = await fake_telegram.wait_for(
                lambda: next(
                    (k for k, m in fake_telegram.messages.items() if draft_id in m["text"]), None
                ),
                what="the card",
            )
            tap = callback_query_update(f"approve:{draft_id}", message_id=card[1])
            fake_telegram.inject_update(tap)
            await fake_telegram.wait_for(lambda: len(receiver.received) >= 3, what="retries")
            service.kill()
            failed_before_kill = len(receiver.received)
            receiver.clear_script()

            await service.start(http)
            await fake_telegram.wait_for(
                lambda: _is(draft_status(draft_id), "sent"), timeout=30, what="the draft sent"
            )
            row = await delivery()
        finally:
            service.close()
            await engine.dispose()

    assert row is not None and row.status == "succeeded"
    assert failed_before_kill >= 3
    assert len(receiver.accepted()) == 1
    assert {r.webhook_id for r in receiver.received} == {row.webhook_id}
    assert all(r.verified for r in receiver.received)


async def _is(value: object, expected: str) -> bool:
    return await value == expected  # type: ignore[misc]
