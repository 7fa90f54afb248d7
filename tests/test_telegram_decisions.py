"""Approve and Reject from Telegram: one decision and one event per draft, refusals answered."""

from __future__ import annotations

import asyncio
import html
from collections.abc import Callable

import pytest

from bot.settings import Settings
from tests.fake_telegram import FakeTelegram
from tests.telegram_support import DRAFT, Service, free_port, mode_settings, running_service
from tests.telegram_updates import OPERATOR_ID, STRANGER_ID, callback_query_update

FRIEND_ID = 5550002


async def approve_scenario(service: Service) -> None:
    """Post a draft, approve it from the card: the decision is stored and shown, once."""
    created = await service.post_draft()
    draft_id = created["draft_id"]
    answer = await service.answered(await service.tap("approve", draft_id))
    assert answer["text"] == "✅ Approved"

    draft = await service.draft(draft_id)
    assert (draft.status, draft.decided_by) == ("approved", OPERATOR_ID)
    assert draft.decided_at is not None
    [event] = await service.events("draft.approved")
    assert event.payload["draft_id"] == draft_id
    assert event.payload["decided_by"] == OPERATOR_ID

    card = await service.fake.wait_for(
        lambda: "Approved" in service.card(draft_id)["text"] and service.card(draft_id),
        what="the card showing the approval",
    )
    assert "✅ Approved by Nicolas" in card["text"]
    assert draft.decided_at.strftime("%Y-%m-%d %H:%M UTC") in card["text"]
    # What sends the reply: the text in a <pre> block, a copy button, the job, Mark as sent.
    [last_edit] = [
        c.params
        for c in service.fake.calls_to("editMessageText")
        if c.params["message_id"] == card["message_id"]
    ][-1:]
    assert f"<pre>{html.escape(DRAFT['draft_text'], quote=False)}</pre>" in last_edit["text"]  # type: ignore[arg-type]
    buttons = [b for row in card["reply_markup"]["inline_keyboard"] for b in row]
    assert buttons[0]["copy_text"] == {"text": DRAFT["draft_text"]}
    assert buttons[1]["url"] == DRAFT["context"]["job_link"]  # type: ignore[index]
    assert buttons[2]["callback_data"] == f"sent:{draft_id}"


async def test_approve_stores_the_decision_and_shows_it_on_the_card(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    async with running_service(telegram_settings(port=free_port()), fake_telegram) as service:
        await approve_scenario(service)


async def test_reject_after_approve_is_refused_and_changes_nothing(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    async with running_service(telegram_settings(port=free_port()), fake_telegram) as service:
        draft_id = (await service.post_draft())["draft_id"]
        await service.answered(await service.tap("approve", draft_id))
        refusal = await service.answered(await service.tap("reject", draft_id))
        again = await service.answered(await service.tap("approve", draft_id))

        assert refusal["text"] == "Already approved: it cannot be rejected now."
        assert refusal["show_alert"] is True
        assert again["text"] == "Already approved."
        assert (await service.draft(draft_id)).status == "approved"
        assert [e.event for e in await service.events()] == [
            "draft.created@1.0",
            "draft.approved@1.0",
        ]


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_twenty_concurrent_taps_make_one_decision_and_one_event(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram, mode: str
) -> None:
    async with running_service(mode_settings(telegram_settings, mode), fake_telegram) as service:
        draft_id = (await service.post_draft())["draft_id"]
        message_id = service.card_message_id(draft_id)
        updates = [
            callback_query_update(f"approve:{draft_id}", message_id=message_id) for _ in range(20)
        ]
        for update in updates:
            fake_telegram.inject_update(update)
        answers = await asyncio.gather(
            *(service.answered(u["callback_query"]["id"]) for u in updates)
        )

        assert sorted(a["text"] for a in answers) == ["Already approved."] * 19 + ["✅ Approved"]
        assert len(await service.events("draft.approved")) == 1
        assert (await service.draft(draft_id)).status == "approved"
        await fake_telegram.wait_for(lambda: "Approved by" in service.card(draft_id)["text"])


async def test_reject(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    async with running_service(telegram_settings(port=free_port()), fake_telegram) as service:
        draft_id = (await service.post_draft())["draft_id"]
        answer = await service.answered(await service.tap("reject", draft_id))
        assert answer["text"] == "❌ Rejected"
        assert (await service.draft(draft_id)).status == "rejected"
        assert len(await service.events("draft.rejected@1.0")) == 1
        await fake_telegram.wait_for(lambda: "❌ Rejected by" in service.card(draft_id)["text"])


@pytest.mark.parametrize(
    ("user_id", "chat_id"),
    [(STRANGER_ID, None), (STRANGER_ID, -100123), (STRANGER_ID, FRIEND_ID)],
    ids=["stranger-private-chat", "stranger-group", "stranger-in-a-friends-chat"],
)
async def test_a_tap_from_anyone_else_is_refused_and_changes_nothing(
    telegram_settings: Callable[..., Settings],
    fake_telegram: FakeTelegram,
    user_id: int,
    chat_id: int | None,
) -> None:
    settings = telegram_settings(port=free_port())
    async with running_service(settings, fake_telegram) as service:
        draft_id = (await service.post_draft())["draft_id"]
        for action in ("approve", "reject", "edit"):
            tap = await service.tap(action, draft_id, user_id=user_id, chat_id=chat_id)
            answer = await service.answered(tap)
            assert "only takes orders from its operator" in answer["text"]
        service.say("/drafts", user_id=user_id, chat_id=chat_id)
        await fake_telegram.wait_for(
            lambda: any(
                "operator" in m["text"] for m in fake_telegram.delivered(chat_id or user_id)
            ),
            what="a refusal of /drafts",
        )

        draft = await service.draft(draft_id)
        assert (draft.status, draft.draft_text) == ("pending", service_draft_text())
        assert [e.event for e in await service.events()] == ["draft.created@1.0"]
        assert "reply_markup" in service.card(draft_id)
        assert fake_telegram.calls_to("editMessageText") == []


async def test_an_allowed_user_may_act_from_their_own_chat(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    settings = telegram_settings(port=free_port(), telegram_allowed_user_ids={FRIEND_ID})
    async with running_service(settings, fake_telegram) as service:
        draft_id = (await service.post_draft())["draft_id"]
        answer = await service.answered(await service.tap("approve", draft_id, user_id=FRIEND_ID))
        assert answer["text"] == "✅ Approved"
        assert (await service.draft(draft_id)).decided_by == FRIEND_ID


async def test_a_tap_on_an_unknown_draft_is_answered(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    async with running_service(telegram_settings(port=free_port()), fake_telegram) as service:
        taps = [
            callback_query_update("approve:00000000-0000-4000-8000-000000000000"),
            callback_query_update("reject:not-a-uuid"),
            callback_query_update("launch:missiles"),
        ]
        for update in taps:
            fake_telegram.inject_update(update)
        answers = [await service.answered(u["callback_query"]["id"]) for u in taps]
        assert [a["text"] for a in answers] == [
            "This draft does not exist (any more).",
            "This draft does not exist (any more).",
            "This button no longer does anything.",
        ]
        assert await service.events() == []


def service_draft_text() -> str:
    from tests.telegram_support import DRAFT

    return str(DRAFT["draft_text"])


async def test_in_an_operator_group_any_member_may_act(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    group = -100777
    settings = telegram_settings(port=free_port(), telegram_chat_id=group)
    async with running_service(settings, fake_telegram) as service:
        draft_id = (await service.post_draft())["draft_id"]
        assert fake_telegram.sent_messages()[0]["chat_id"] == group
        tap = await service.tap("approve", draft_id, user_id=FRIEND_ID, chat_id=group)
        assert (await service.answered(tap))["text"] == "✅ Approved"
        assert (await service.draft(draft_id)).decided_by == FRIEND_ID
