"""What an outbox row can ask of Telegram besides a new message: edit an existing one (its
text and buttons), reply to one, and arrive without a notification."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col

from bot.settings import Settings
from storage.engine import session_factory
from storage.models import Draft
from storage.repo import draft_intake, drafts, outbox
from tests.fake_telegram import FakeTelegram
from tests.telegram_support import FAST, Service, free_port, running_service
from tests.telegram_updates import OPERATOR_ID

BUTTON = {"inline_keyboard": [[{"text": "OK", "callback_data": "approve:x"}]]}


async def queue(service: Service, text: str, **options: object) -> int:
    async with service.db() as session, session.begin():
        outbox_id = await outbox.enqueue(
            session=session, chat_id=OPERATOR_ID, text=text, **options
        )
    return outbox_id


async def sent_id(service: Service, outbox_id: int) -> int:
    async def recorded() -> int | None:
        row = next(r for r in await service.outbox() if r.id == outbox_id)
        return row.message_id if row.status == "sent" else None

    return int(await service.fake.wait_for(recorded, what=f"outbox row {outbox_id} sent"))


async def test_an_edit_replaces_text_and_buttons_of_the_message(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    async with running_service(telegram_settings(port=free_port()), fake_telegram) as service:
        original = await sent_id(service, await queue(service, "<b>v1</b>", reply_markup=BUTTON))
        assert fake_telegram.message(OPERATOR_ID, original)["reply_markup"] == BUTTON

        edit = await queue(service, "<b>v2</b> decided", edit_message_id=original)
        again = await queue(service, "<b>v2</b> decided", edit_message_id=original)

        assert await sent_id(service, edit) == original
        assert await sent_id(service, again) == original  # "not modified" counts as done
        shown = fake_telegram.message(OPERATOR_ID, original)
        assert shown["text"] == "v2 decided"
        assert "reply_markup" not in shown
        assert len(fake_telegram.sent_messages(OPERATOR_ID)) == 1


async def test_a_reply_can_be_silent(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    async with running_service(telegram_settings(port=free_port()), fake_telegram) as service:
        card = await sent_id(service, await queue(service, "card"))
        await sent_id(service, await queue(service, "loud reply", reply_to_message_id=card))
        await sent_id(service, await queue(service, "quiet", silent=True))

        card_call, reply, quiet = fake_telegram.sent_messages(OPERATOR_ID)
        assert reply["reply_parameters"]["message_id"] == card
        assert not reply.get("disable_notification")
        assert quiet["disable_notification"] is True
        assert "reply_parameters" not in quiet and not card_call.get("disable_notification")


@pytest.mark.parametrize("backend", ["postgresql"])  # a row lock holds up one record alone
async def test_a_chats_messages_go_on_while_the_ones_before_are_recorded(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram, engine: AsyncEngine
) -> None:
    """The record of a draft's card waits here on the draft's row lock; the messages queued
    behind the card reach Telegram meanwhile, in order (the edit and the reply name the card
    by its outbox row: its message id is known before it is recorded). Once the lock is gone
    everything is recorded, and the draft's card is the card."""
    db = session_factory(engine)
    draft = drafts.new(
        client="Acme", job_title="Bot", message="Hi", draft_text="Hello", confidence=80, context={}
    )
    async with db() as session, session.begin():
        await draft_intake.store_in(session=session, draft=draft, card=None)

    def ours() -> list[dict[str, Any]]:
        """The messages sent from the outbox rows below (the draft's own card is sent too)."""
        texts = ("card", "a reply")
        return [m for m in fake_telegram.sent_messages(OPERATOR_ID) if m["text"] in texts]

    # A lease long enough that nothing is sent twice while the record waits, however slow
    # the machine (a run lasts well within it).
    patient = replace(FAST, claim_window_s=60.0)
    settings = telegram_settings(port=free_port())
    async with running_service(settings, fake_telegram, tuning=patient) as service:

        async def first_card_recorded() -> bool:
            return (await service.draft(draft.id)).telegram_message_id is not None

        # The service sends the stored draft its card at start: recorded before the lock, or
        # that record would hold up the chat instead.
        await fake_telegram.wait_for(first_card_recorded, what="the draft's first card")
        async with db() as locker, locker.begin():
            await locker.execute(
                select(Draft).where(col(Draft.id) == draft.id).with_for_update(key_share=True)
            )
            async with db() as session, session.begin():
                card = await outbox.enqueue(
                    session=session, chat_id=OPERATOR_ID, text="card", draft_id=draft.id
                )
                edit = await outbox.enqueue(
                    session=session, chat_id=OPERATOR_ID, text="card, edited", edit_outbox_id=card
                )
                reply = await outbox.enqueue(
                    session=session, chat_id=OPERATOR_ID, text="a reply", reply_to_outbox_id=card
                )

            def all_sent() -> bool:
                return len(ours()) == 2 and bool(fake_telegram.calls_to("editMessageText"))

            await fake_telegram.wait_for(all_sent, timeout=30, what="the messages behind the card")
            rows = {row.id: row.status for row in await service.outbox()}
            assert rows[card] == "pending"  # its record waits for the lock

        card_id = await sent_id(service, card)
        assert await sent_id(service, edit) == card_id
        await sent_id(service, reply)
        first, second = ours()
        assert (first["text"], second["text"]) == ("card", "a reply")
        assert second["reply_parameters"]["message_id"] == card_id
        (edited,) = fake_telegram.calls_to("editMessageText")
        assert edited.params["message_id"] == card_id
        assert (await service.draft(draft.id)).telegram_message_id == card_id
