"""Telegram misbehaves during a burst of 50 drafts: every card still arrives, once, in order.

The service runs in this test's loop against the fake Bot API, which answers 500, 429 with
`retry_after`, slowly, or not at all (connections refused) as tests/reliability/
telegram_faults.py scripts it. Drafts are posted one after another, so the order they were
acknowledged in is the order the operator must see them in.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.settings import Settings
from storage.engine import create_engine
from storage.models import Draft, OutboxMessage
from tests.fake_telegram import FakeTelegram
from tests.reliability.service_runs import AUTH, ServiceRun, bot_service_env, post
from tests.reliability.telegram_faults import (
    BURST,
    FAULTS,
    apply_fault,
    cards_in_order,
    collapse_repeats,
    failed_sends,
)
from tests.telegram_support import DRAFT, Service, free_port, running_service
from tests.telegram_updates import OPERATOR_ID

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(120)]

DRAIN_TIMEOUT_S = 40


async def drained(service: Service, draft_ids: list[str]) -> bool:
    """Every draft has its card's message id and nothing is left to send."""
    rows = await service.outbox()
    if any(row.status != "sent" for row in rows):
        return False
    return all([(await service.draft(draft_id)).telegram_message_id for draft_id in draft_ids])


async def test_a_burst_during_a_telegram_outage_arrives_complete_once_and_in_order(
    telegram_settings: Callable[..., Settings],
    fake_telegram: FakeTelegram,
    figures: Counter[str],
) -> None:
    async with running_service(telegram_settings(port=free_port()), fake_telegram) as service:
        created: list[str] = []
        for position in range(BURST):
            await apply_fault(fake_telegram, position)
            created.append((await service.post_draft(client=f"Client {position}"))["draft_id"])
        await fake_telegram.accept_connections()  # in case the script ended refusing
        await fake_telegram.wait_for(
            lambda: drained(service, created), timeout=DRAIN_TIMEOUT_S, what="every card sent"
        )
        cards = cards_in_order(fake_telegram)
        # Each card's message id on its draft is the one Telegram gave that card.
        for draft_id in created:
            draft = await service.draft(draft_id)
            card = fake_telegram.message(OPERATOR_ID, draft.telegram_message_id or 0)
            assert draft_id in card["text"]

    # Positions in the burst of the cards, as the operator received them.
    position = {draft_id: n for n, draft_id in enumerate(created)}
    assert [position.get(draft_id, -1) for draft_id in cards] == list(range(BURST))
    assert failed_sends(fake_telegram) >= 9  # the script's error answers were all met
    figures["telegram outage: drafts posted during faults"] += BURST
    figures["telegram outage: failed sendMessage answers survived"] += failed_sends(fake_telegram)
    figures["telegram outage: faults survived"] += FAULTS


KILL_AT = 25
"""The burst position after which the service is killed (`kill -9`) with a send in flight."""


async def test_a_kill_during_the_burst_loses_no_card_and_repeats_at_most_the_one_in_flight(
    settings: Settings,
    fake_telegram: FakeTelegram,
    tmp_path: Path,
    figures: Counter[str],
) -> None:
    env = bot_service_env(
        settings.database_url,
        fake_telegram.base_url,
    )
    service = ServiceRun(env, tmp_path, free_port())
    created: list[str] = []
    engine = create_engine(settings.database_url)
    async with aiohttp.ClientSession(headers=AUTH) as http:
        try:
            await service.start(http)
            for position in range(KILL_AT):
                await apply_fault(fake_telegram, position)
                created.append(await _post_draft(http, service, position))
            # Telegram takes the next card but answers late: the process dies before it hears.
            fake_telegram.slow(2.0, method="sendMessage")
            taken = len(fake_telegram.sent_messages())
            created.append(await _post_draft(http, service, KILL_AT))
            await fake_telegram.wait_for(
                lambda: len(fake_telegram.sent_messages()) > taken,
                what="a card in flight",
            )
            service.kill()
            in_flight = cards_in_order(fake_telegram)[-1]
            fake_telegram.slow(0)

            await service.start(http)
            for position in range(KILL_AT + 1, BURST):
                await apply_fault(fake_telegram, position)
                created.append(await _post_draft(http, service, position))
            await fake_telegram.accept_connections()
            await fake_telegram.wait_for(
                lambda: _all_sent(engine, created),
                timeout=DRAIN_TIMEOUT_S,
                what="every card sent after the restart",
            )
        finally:
            service.close()
            await engine.dispose()

    cards = cards_in_order(fake_telegram)
    position = {draft_id: n for n, draft_id in enumerate(created)}
    assert [position[d] for d in collapse_repeats(cards)] == list(range(BURST))
    # Telegram had the card in flight, the database never heard: that one, and only it, twice.
    assert Counter(cards) - Counter(created) == Counter({in_flight: 1})
    figures["telegram outage: drafts posted during faults"] += BURST
    figures["telegram outage: failed sendMessage answers survived"] += failed_sends(fake_telegram)
    figures["telegram outage: faults survived"] += FAULTS + 1  # and the kill -9


async def _post_draft(http: aiohttp.ClientSession, service: ServiceRun, position: int) -> str:
    body = DRAFT | {"client": f"Client {position}"}
    key = {"Idempotency-Key": f"burst-{position}"}
    status, answer = await post(http, f"{service.url}/api/draft/create", body, headers=key)
    assert status == 201, answer
    return str(answer["draft_id"])


async def _all_sent(engine: AsyncEngine, draft_ids: list[str]) -> bool:
    """Every draft has its card's message id and no outbox row is pending (read directly)."""
    async with engine.connect() as connection:
        pending = await connection.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.status == "pending")
        )
        recorded = await connection.scalar(
            select(func.count()).select_from(Draft).where(Draft.telegram_message_id.is_not(None))  # type: ignore[union-attr]
        )
    return pending == 0 and recorded == len(draft_ids)
