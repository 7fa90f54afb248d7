"""Conversation steps (§5): Reject asks why, Redraft takes an instruction, Edit shows the text;
each step belongs to the user who started it, in that chat."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest
from sqlalchemy import select

from bot.settings import Settings
from storage.models import CitizenSession, DraftFeedback, PendingStep
from storage.types import utcnow
from tests.fake_telegram import FakeTelegram
from tests.loop_support import api, client_writes, loop_settings, wait_shown
from tests.telegram_support import DRAFT, Service, buttons, free_port, running_service
from tests.telegram_updates import OPERATOR_ID

pytestmark = pytest.mark.usefixtures("citizens_home")

FRIEND_ID = 5550002
GROUP = -100777


async def question(service: Service, words: str, chat_id: int = OPERATOR_ID) -> dict:
    return await service.fake.wait_for(  # type: ignore[no-any-return]
        lambda: next((m for m in service.fake.delivered(chat_id) if words in m["text"]), None),
        what=f"a message saying {words!r}",
    )


async def feedback(service: Service, draft_id: str) -> list[tuple[str, str]]:
    async with service.db() as session:
        rows = await session.scalars(
            select(DraftFeedback)
            .where(DraftFeedback.draft_id == draft_id)
            .order_by(DraftFeedback.id)  # type: ignore[arg-type]
        )
        return [(row.kind, row.text) for row in rows]


async def test_reject_asks_why_and_a_preset_or_typed_reason_is_stored_and_shown(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    async with running_service(telegram_settings(port=free_port()), fake_telegram) as service:
        draft_id = (await service.post_draft())["draft_id"]
        [card] = await wait_shown(service, draft_id, 1)
        assert (await service.answered(await service.tap("reject", draft_id)))[
            "text"
        ] == "❌ Rejected"
        assert (await service.draft(draft_id)).status == "rejected"  # at the tap
        asked = await question(service, "Why?")
        reasons = [b for row in asked["reply_markup"]["inline_keyboard"] for b in row]
        assert [b["text"] for b in reasons] == ["Too long", "Wrong tone", "Wrong facts", "Not now"]
        assert all(len(b["callback_data"].encode()) <= 64 for b in reasons)

        tap = service.tap_message(reasons[1]["callback_data"], asked["message_id"])
        assert (await service.answered(tap))["text"] == "Noted: Wrong tone"
        await fake_telegram.wait_for(
            lambda: "Reason: Wrong tone" in fake_telegram.message(OPERATOR_ID, card)["text"],
            what="the reason on the card",
        )
        assert buttons(fake_telegram.message(OPERATOR_ID, asked["message_id"])) == []
        [event] = await service.events("draft.feedback")
        assert event.payload["kind"] == "reject_reason" and event.payload["text"] == "Wrong tone"

        typed = (await service.post_draft(client="Typed Ltd"))["draft_id"]
        await wait_shown(service, typed, 1)
        await service.answered(await service.tap("reject", typed))
        await fake_telegram.wait_for(
            lambda: len([m for m in fake_telegram.delivered() if "Why?" in m["text"]]) == 2
        )
        service.say("The client asked in French")
        await question(service, "📝 Noted")
        assert await feedback(service, typed) == [("reject_reason", "The client asked in French")]
        draft = await api(service, f"/api/draft/{typed}")
        assert [(f["kind"], f["text"]) for f in draft["feedback"]] == [
            ("reject_reason", "The client asked in French")
        ]


async def test_a_redraft_supersedes_the_draft_queues_its_citizen_and_the_new_card_arrives(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    async with running_service(loop_settings(telegram_settings), fake_telegram) as service:
        thread_id = (await client_writes(service))["thread_id"]
        old = (await service.post_draft(thread_id=thread_id))["draft_id"]
        [card] = await wait_shown(service, old, 1)
        answer = await service.answered(await service.tap("redraft", old))
        assert answer["text"] == "🔁 Send an instruction"
        await question(service, "What should the new version")
        assert (await service.draft(old)).status == "pending"  # nothing changes until told

        service.say("Shorter, and ask for the budget first")
        await question(service, "for a new version")
        assert (await service.draft(old)).status == "superseded"
        await fake_telegram.wait_for(
            lambda: "Redrafting" in fake_telegram.message(OPERATOR_ID, card)["text"],
            what="the card saying it is being redrafted",
        )
        assert buttons(fake_telegram.message(OPERATOR_ID, card)) == []
        [event] = await service.events("draft.redraft_requested")
        assert event.payload["instruction"] == "Shorter, and ask for the budget first"
        async with service.db() as session:
            queued = await session.get(CitizenSession, event.payload["session_id"])
        assert queued is not None
        assert (queued.citizen, queued.thread_id, queued.draft_id) == ("rafael", thread_id, old)
        assert "<<<BEGIN OPERATOR FEEDBACK" in queued.prompt
        assert "Shorter, and ask for the budget first" in queued.prompt

        # The citizen's new version arrives as a new card, with its buttons.
        new = (await service.post_draft(thread_id=thread_id, draft_text="Short. Budget?"))[
            "draft_id"
        ]
        [new_card] = await wait_shown(service, new, 1)
        assert new_card != card
        assert f"approve:{new}" in buttons(fake_telegram.message(OPERATOR_ID, new_card))

        thread = await api(service, f"/api/thread/{thread_id}")
        assert [(d["id"], d["status"]) for d in thread["drafts"]] == [
            (old, "superseded"),
            (new, "pending"),
        ]
        assert [(f["kind"], f["text"]) for f in thread["drafts"][0]["feedback"]] == [
            ("redraft", "Shorter, and ask for the budget first")
        ]
        assert thread["drafts"][0]["created_at"] < thread["drafts"][0]["feedback"][0]["at"]
        assert thread["drafts"][0]["feedback"][0]["at"] < thread["drafts"][1]["created_at"]


async def test_edit_shows_the_current_text_copyable(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    async with running_service(telegram_settings(port=free_port()), fake_telegram) as service:
        draft_id = (await service.post_draft())["draft_id"]
        await wait_shown(service, draft_id, 1)
        await service.answered(await service.tap("edit", draft_id))
        await question(service, "Send the new text")
        [asked] = [
            c.params
            for c in fake_telegram.calls_to("sendMessage")
            if "new text" in c.params["text"]
        ]
        assert "<pre>" in asked["text"] and "*bold* _under_" in asked["text"]


async def test_a_group_member_who_did_not_start_an_edit_cannot_complete_or_cancel_it(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    settings = telegram_settings(port=free_port(), telegram_chat_id=GROUP)
    async with running_service(settings, fake_telegram) as service:
        draft_id = (await service.post_draft())["draft_id"]
        await wait_shown(service, draft_id, 1)
        await service.answered(
            await service.tap("edit", draft_id, user_id=OPERATOR_ID, chat_id=GROUP)
        )
        await question(service, "Send the new text", chat_id=GROUP)

        service.say("I am only chatting", user_id=FRIEND_ID, chat_id=GROUP)
        service.say("/cancel", user_id=FRIEND_ID, chat_id=GROUP)
        await question(service, "Nothing to cancel.", chat_id=GROUP)
        assert (await service.draft(draft_id)).draft_text == DRAFT["draft_text"]
        assert await service.events("draft.edited") == []

        service.say("The operator's own text", user_id=OPERATOR_ID, chat_id=GROUP)
        await fake_telegram.wait_for(
            lambda: any(
                m["text"].startswith("📝 Edited draft") for m in fake_telegram.delivered(GROUP)
            ),
            what="the edited card",
        )
        draft = await service.draft(draft_id)
        assert draft.draft_text == "The operator's own text"
        [edited] = await service.events("draft.edited")
        assert edited.payload["edited_by"] == OPERATOR_ID


async def test_cancel_ends_a_redraft_step_and_the_draft_stays_pending(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    async with running_service(telegram_settings(port=free_port()), fake_telegram) as service:
        draft_id = (await service.post_draft())["draft_id"]
        await wait_shown(service, draft_id, 1)
        await service.answered(await service.tap("redraft", draft_id))
        await question(service, "What should the new version")
        service.say("/cancel")
        await question(service, "Redraft cancelled")
        service.say("shorter please")
        await question(service, "Nothing is being edited")
        assert (await service.draft(draft_id)).status == "pending"
        assert await service.events("draft.redraft") == []


async def test_in_a_group_only_whoever_rejected_gives_the_reason(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    settings = telegram_settings(port=free_port(), telegram_chat_id=GROUP)
    async with running_service(settings, fake_telegram) as service:
        draft_id = (await service.post_draft())["draft_id"]
        await wait_shown(service, draft_id, 1)
        await service.answered(
            await service.tap("reject", draft_id, user_id=FRIEND_ID, chat_id=GROUP)
        )
        asked = await question(service, "Why?", chat_id=GROUP)
        first = asked["reply_markup"]["inline_keyboard"][0][0]["callback_data"]

        tap = service.tap_message(first, asked["message_id"], user_id=OPERATOR_ID, chat_id=GROUP)
        refusal = await service.answered(tap)
        assert refusal["text"] == "Only whoever rejected this draft can say why."
        service.say("my own reason", user_id=OPERATOR_ID, chat_id=GROUP)
        tap = service.tap_message(first, asked["message_id"], user_id=FRIEND_ID, chat_id=GROUP)
        assert (await service.answered(tap))["text"] == "Noted: Too long"
        assert await feedback(service, draft_id) == [("reject_reason", "Too long")]


async def test_a_step_not_answered_in_time_ends_and_a_later_text_is_not_its_answer(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    settings = telegram_settings(port=free_port(), step_timeout_s=1)
    async with running_service(settings, fake_telegram) as service:
        edited = (await service.post_draft())["draft_id"]
        await wait_shown(service, edited, 1)
        await service.answered(await service.tap("edit", edited))
        await question(service, "Send the new text")
        await _outlive_the_step(service, settings)
        service.say("A new text typed much later")
        await fake_telegram.wait_for(lambda: len(_hints(service)) == 1, what="the hint")
        assert (await service.draft(edited)).draft_text == DRAFT["draft_text"]
        assert [e.event for e in await service.events("draft.edited")] == []

        rejected = (await service.post_draft(client="Later Ltd"))["draft_id"]
        await wait_shown(service, rejected, 1)
        await service.answered(await service.tap("reject", rejected))
        await question(service, "Why?")
        await _outlive_the_step(service, settings)
        service.say("A reason typed much later")
        await fake_telegram.wait_for(lambda: len(_hints(service)) == 2, what="the hint")
        assert await feedback(service, rejected) == []


def _hints(service: Service) -> list[dict]:
    return [
        m for m in service.fake.delivered(OPERATOR_ID) if "Nothing is being edited" in m["text"]
    ]


async def _outlive_the_step(service: Service, settings: Settings) -> None:
    started = await _step_started(service)
    await service.fake.wait_for(
        lambda: (utcnow() - started).total_seconds() > settings.step_timeout_s,
        what="the step's time to run out",
    )


async def _step_started(service: Service) -> datetime:
    async with service.db() as session:
        step = await session.scalar(select(PendingStep))
    assert step is not None
    return step.created_at
