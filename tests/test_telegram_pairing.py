"""Pairing (CONTRACT §15): with a bot token and no TELEGRAM_CHAT_ID, the code logged at start,
sent as `/start <code>` from a private chat, makes that chat the operator, across restarts.

The real PTB against the fake Bot API; the pairing is read back from the real database.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from bot.settings import Settings
from bot.telegram.access import refusal
from storage.models import OperatorPairing
from tests.fake_telegram import FakeTelegram
from tests.signed_posts import post_signed
from tests.telegram_support import Service, free_port, running_service
from tests.telegram_updates import OPERATOR_ID, STRANGER_ID

NEWCOMER = 5550123
"""The user who pairs: nobody configured them anywhere."""
SECRET = "pairing-webhook-secret-31c"

pytestmark = pytest.mark.usefixtures("citizens_home")


@pytest.fixture
def unpaired(telegram_settings: Callable[..., Settings]) -> Callable[..., Settings]:
    """Settings with a bot token and no TELEGRAM_CHAT_ID, on a fresh port each start."""

    def make(**overrides: Any) -> Settings:
        values = {"telegram_chat_id": None, "webhook_secret": SECRET, "claude_bin": "false"}
        return telegram_settings(port=free_port(), **(values | overrides))

    return make


def pairing_codes(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [m for r in caplog.records for m in re.findall(r"^Pairing code: (\S+)", r.getMessage())]


async def reply_to(service: Service, chat_id: int, count: int) -> str:
    """The `count`-th message the bot sent to `chat_id` (1-based), once it is there."""
    await service.fake.wait_for(
        lambda: len(service.fake.delivered(chat_id)) >= count, what=f"reply {count} to {chat_id}"
    )
    return str(service.fake.delivered(chat_id)[count - 1]["text"])


async def card_for(service: Service, chat_id: int, draft_id: str) -> dict[str, Any]:
    def card() -> dict[str, Any] | None:
        return next(
            (m for m in service.fake.delivered(chat_id) if draft_id in m["text"]),
            None,
        )

    return await service.fake.wait_for(card, what=f"the card of {draft_id} in {chat_id}")  # type: ignore[no-any-return]


async def service_tap(service: Service, action: str, draft_id: str) -> str:
    """Tap a button of the draft's card in the paired chat."""
    return await service.tap(action, draft_id, user_id=NEWCOMER)


async def test_the_logged_code_pairs_the_first_private_chat_and_survives_a_restart(
    unpaired: Callable[..., Settings],
    fake_telegram: FakeTelegram,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with running_service(unpaired(), fake_telegram) as service:
        [code] = pairing_codes(caplog)
        assert len(code) >= 8
        assert (await service.health())["telegram"] == "pairing"
        # A draft stored while nobody is paired waits for its operator.
        early = (await service.post_draft(client="Early Bird"))["draft_id"]

        # Anything else than the code: the refusal naming the chat, nothing paired.
        service.say("hello", user_id=NEWCOMER)
        assert await reply_to(service, NEWCOMER, 1) == refusal(NEWCOMER)
        service.say("/start WRONGCODE1", user_id=NEWCOMER)
        assert await reply_to(service, NEWCOMER, 2) == refusal(NEWCOMER)
        # The code from a group does not pair it.
        service.say(f"/start {code}", user_id=NEWCOMER, chat_id=-100777)
        await fake_telegram.wait_for(lambda: fake_telegram.delivered(-100777))
        assert fake_telegram.delivered(-100777)[0]["text"] == refusal(-100777)

        service.say(f"/start {code.lower()}", user_id=NEWCOMER)
        confirmation = await reply_to(service, NEWCOMER, 3)
        assert confirmation.startswith("✅ Paired.") and "operator" in confirmation
        assert (await service.health())["telegram"] == "ok"
        async with service.db() as session:
            [row] = (await session.scalars(select(OperatorPairing))).all()
        assert (row.chat_id, row.user_id) == (NEWCOMER, NEWCOMER)

        # The draft that waited gets its card, a new one too, with buttons: the operator acts.
        assert (await card_for(service, NEWCOMER, early)).get("reply_markup")
        later = (await service.post_draft(client="Second"))["draft_id"]
        assert (await card_for(service, NEWCOMER, later)).get("reply_markup")
        callback = await service_tap(service, "approve", later)
        await service.answered(callback)
        assert (await service.draft(later)).status == "approved"

        # The code is spent: someone else sending it is refused, and the operator stays.
        service.say(f"/start {code}", user_id=STRANGER_ID)
        assert await reply_to(service, STRANGER_ID, 1) == refusal(STRANGER_ID)

    caplog.clear()
    async with running_service(unpaired(), fake_telegram) as service:
        assert pairing_codes(caplog) == []
        assert (await service.health())["telegram"] == "ok"
        draft_id = (await service.post_draft(client="After Restart"))["draft_id"]
        assert (await card_for(service, NEWCOMER, draft_id)).get("reply_markup")
        # A session's notice goes to the paired chat too.
        url = f"{service.url}/webhook/trigger/rafael"
        accepted = await post_signed(service.http, url, SECRET, {"message": "Check the inbox"})
        session_id = accepted["session_id"]
        await fake_telegram.wait_for(
            lambda: any(session_id in m["text"] for m in fake_telegram.delivered(NEWCOMER)),
            what="the session notice in the paired chat",
        )


async def test_each_start_has_a_new_code_until_paired(
    unpaired: Callable[..., Settings],
    fake_telegram: FakeTelegram,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for _ in range(2):
        async with running_service(unpaired(), fake_telegram) as service:
            assert (await service.health())["telegram"] == "pairing"
    first, second = pairing_codes(caplog)
    assert first != second


async def test_a_set_telegram_chat_id_wins_over_a_pairing(
    unpaired: Callable[..., Settings],
    fake_telegram: FakeTelegram,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with running_service(unpaired(), fake_telegram) as service:
        [code] = pairing_codes(caplog)
        service.say(f"/start {code}", user_id=NEWCOMER)
        assert (await reply_to(service, NEWCOMER, 1)).startswith("✅ Paired.")

    caplog.clear()
    async with running_service(unpaired(telegram_chat_id=OPERATOR_ID), fake_telegram) as service:
        assert pairing_codes(caplog) == []
        draft_id = (await service.post_draft(client="Configured"))["draft_id"]
        await card_for(service, OPERATOR_ID, draft_id)
        assert not any(draft_id in m["text"] for m in fake_telegram.delivered(NEWCOMER))
        service.say("/drafts", user_id=NEWCOMER)
        assert await reply_to(service, NEWCOMER, 2) == refusal(NEWCOMER)


async def test_two_chats_sending_the_code_at_once_pair_one(
    unpaired: Callable[..., Settings],
    fake_telegram: FakeTelegram,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with running_service(unpaired(), fake_telegram) as service:
        [code] = pairing_codes(caplog)
        service.say(f"/start {code}", user_id=NEWCOMER)
        service.say(f"/start {code}", user_id=STRANGER_ID)
        first = await reply_to(service, NEWCOMER, 1)
        second = await reply_to(service, STRANGER_ID, 1)
        async with service.db() as session:
            [row] = (await session.scalars(select(OperatorPairing))).all()

    replies = {NEWCOMER: first, STRANGER_ID: second}
    assert replies[row.chat_id].startswith("✅ Paired.")
    [other] = set(replies) - {row.chat_id}
    assert replies[other] == refusal(other)
