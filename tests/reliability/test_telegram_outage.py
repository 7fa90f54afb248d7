"""Telegram misbehaves during a burst of 50 drafts: every card still arrives, once, in order.

The service runs in this test's loop against the fake Bot API, which answers 500, 429 with
`retry_after`, slowly, or not at all (connections refused) as tests/reliability/
telegram_faults.py scripts it. Drafts are posted one after another, so the order they were
acknowledged in is the order the operator must see them in.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest

from bot.settings import Settings
from tests.fake_telegram import FakeTelegram
from tests.reliability.telegram_faults import (
    BURST,
    FAULTS,
    apply_fault,
    cards_in_order,
    failed_sends,
)
from tests.telegram_support import Service, free_port, running_service
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
