"""Edit in chat: the tap, the next text message (even after a restart), /cancel, and refusals."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from bot.settings import Settings
from storage.models import DraftFeedback, PendingStep
from tests.fake_telegram import FakeTelegram
from tests.telegram_support import DRAFT, Service, buttons, free_port, running_service
from tests.telegram_updates import OPERATOR_ID

NEW_TEXT = "Nouveau texte <b>&amp; *gras* 🚀"


async def start_edit(service: Service, draft_id: str) -> None:
    answer = await service.answered(await service.tap("edit", draft_id))
    assert answer["text"] == "✏️ Send the new text"
    await service.fake.wait_for(
        lambda: any("Send the new text" in m["text"] for m in service.fake.delivered()),
        what="the request for the new text",
    )


async def pending_edits(service: Service) -> list[tuple[int, str]]:
    async with service.db() as session:
        rows = (await session.scalars(select(PendingStep).where(PendingStep.kind == "edit"))).all()
    return [(row.chat_id, row.draft_id) for row in rows]


async def wait_for_new_card(service: Service, draft_id: str) -> dict:
    def new_card() -> dict | None:
        cards = [m for m in service.fake.delivered() if m["text"].startswith("📝 Edited draft")]
        return cards[-1] if cards else None

    return await service.fake.wait_for(new_card, what=f"the edited card of {draft_id}")


async def test_the_next_text_message_replaces_the_draft_and_shows_it_again(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    async with running_service(telegram_settings(port=free_port()), fake_telegram) as service:
        draft_id = (await service.post_draft())["draft_id"]
        old_card_id = (await service.draft(draft_id)).telegram_message_id
        await start_edit(service, draft_id)
        assert await pending_edits(service) == [(OPERATOR_ID, draft_id)]

        service.say(NEW_TEXT)
        card = await wait_for_new_card(service, draft_id)

        assert NEW_TEXT in card["text"]
        assert buttons(card) == [
            f"approve:{draft_id}",
            f"edit:{draft_id}",
            f"redraft:{draft_id}",
            f"reject:{draft_id}",
        ]

        async def card_recorded() -> bool:
            return (await service.draft(draft_id)).telegram_message_id == card["message_id"]

        await fake_telegram.wait_for(card_recorded, what="the new card's id on the draft")
        draft = await service.draft(draft_id)
        assert (draft.draft_text, draft.status) == (NEW_TEXT, "pending")
        assert card["message_id"] != old_card_id
        [edited] = await service.events("draft.edited")
        assert edited.payload == {
            "draft_id": draft_id,
            "old_text": DRAFT["draft_text"],
            "new_text": NEW_TEXT,
            "edited_by": OPERATOR_ID,
            "via": "telegram",
        }
        async with service.db() as session:
            [feedback] = (await session.scalars(select(DraftFeedback))).all()
        assert (feedback.kind, feedback.old_text, feedback.text) == (
            "edit",
            DRAFT["draft_text"],
            NEW_TEXT,
        )
        assert await pending_edits(service) == []
        # Every copy stays true: the first card now shows the new text, still with buttons.
        old_card = await fake_telegram.wait_for(
            lambda: (
                "Nouveau texte"
                in (m := fake_telegram.message(OPERATOR_ID, old_card_id or 0))["text"]
                and m
            ),
            what="the first card showing the new text",
        )
        assert "reply_markup" in old_card

        # The new card's buttons work like the first ones did.
        answer = await service.answered(await service.tap("approve", draft_id))
        assert answer["text"] == "✅ Approved"


async def test_an_edit_started_before_a_restart_is_finished_after_it(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    settings = telegram_settings(port=free_port())
    async with running_service(settings, fake_telegram) as service:
        draft_id = (await service.post_draft())["draft_id"]
        await start_edit(service, draft_id)

    async with running_service(settings, fake_telegram) as service:
        assert await pending_edits(service) == [(OPERATOR_ID, draft_id)]
        service.say(NEW_TEXT)
        await wait_for_new_card(service, draft_id)
        assert (await service.draft(draft_id)).draft_text == NEW_TEXT
        assert len(await service.events("draft.edited")) == 1


async def test_cancel_leaves_the_draft_unchanged(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    async with running_service(telegram_settings(port=free_port()), fake_telegram) as service:
        draft_id = (await service.post_draft())["draft_id"]
        await start_edit(service, draft_id)
        service.say("/cancel")
        await fake_telegram.wait_for(
            lambda: any("Edit cancelled" in m["text"] for m in fake_telegram.delivered())
        )
        service.say("this is just chatter, not a new draft text")
        await fake_telegram.wait_for(
            lambda: any("Nothing is being edited" in m["text"] for m in fake_telegram.delivered())
        )
        service.say("/cancel")
        await fake_telegram.wait_for(
            lambda: any(m["text"] == "Nothing to cancel." for m in fake_telegram.delivered())
        )

        assert (await service.draft(draft_id)).draft_text == DRAFT["draft_text"]
        assert await service.events("draft.edited") == []
        assert await pending_edits(service) == []


async def test_a_decided_draft_cannot_be_edited(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    async with running_service(telegram_settings(port=free_port()), fake_telegram) as service:
        decided = (await service.post_draft())["draft_id"]
        await service.answered(await service.tap("reject", decided))
        refusal = await service.answered(await service.tap("edit", decided))
        assert refusal["text"] == "Already rejected: it can no longer be edited."
        assert await pending_edits(service) == []

        # Decided between the edit tap and the text message: the text changes nothing.
        raced = (await service.post_draft())["draft_id"]
        await start_edit(service, raced)
        await service.answered(await service.tap("approve", raced))
        service.say(NEW_TEXT)
        await fake_telegram.wait_for(
            lambda: any("already approved" in m["text"] for m in fake_telegram.delivered())
        )

        for draft_id in (decided, raced):
            assert (await service.draft(draft_id)).draft_text == DRAFT["draft_text"]
        assert await service.events("draft.edited") == []
        assert await pending_edits(service) == []


async def test_a_text_sent_while_the_tap_is_handled_waits_for_the_tap(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    """One chat's updates are handled in the order they came (bot/telegram/update_order.py):
    the text typed while the Edit tap is still being handled (Telegram answers the tap slowly
    here) is taken after the tap has asked for it, not before."""
    async with running_service(telegram_settings(port=free_port()), fake_telegram) as service:
        draft_id = (await service.post_draft())["draft_id"]
        fake_telegram.slow(1.0, "answerCallbackQuery")
        await service.tap("edit", draft_id)
        service.say(NEW_TEXT)
        await wait_for_new_card(service, draft_id)

        texts = [m["text"] for m in fake_telegram.delivered(OPERATOR_ID)]
        asked = next(n for n, text in enumerate(texts) if "Send the new text" in text)
        shown = next(n for n, text in enumerate(texts) if text.startswith("📝 Edited draft"))
        assert asked < shown, texts
        assert (await service.draft(draft_id)).draft_text == NEW_TEXT
