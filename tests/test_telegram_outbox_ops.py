"""What an outbox row can ask of Telegram besides a new message: edit an existing one (its
text and buttons), reply to one, and arrive without a notification."""

from __future__ import annotations

from collections.abc import Callable

from bot.settings import Settings
from storage.repo import outbox
from tests.fake_telegram import FakeTelegram
from tests.telegram_support import Service, free_port, running_service
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
