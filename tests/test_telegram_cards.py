"""The card (§5): what it says in each state, and every copy of it staying true."""

from __future__ import annotations

import html
from collections.abc import Callable

import pytest
from sqlalchemy import select

from bot.settings import Settings
from storage.models import Lead, ThreadMessage
from storage.repo import draft_actions
from tests.fake_telegram import FakeTelegram
from tests.loop_support import (
    JOB_LINK,
    api,
    client_writes,
    copy_by_drafts,
    loop_settings,
    wait_shown,
)
from tests.telegram_support import DRAFT, Service, buttons, free_port, running_service
from tests.telegram_updates import OPERATOR_ID

pytestmark = pytest.mark.usefixtures("citizens_home")


async def showing(service: Service, message_id: int, words: str) -> dict:
    return await service.fake.wait_for(  # type: ignore[no-any-return]
        lambda: (
            words in (found := service.fake.message(OPERATOR_ID, message_id))["text"] and found
        ),
        what=f"message {message_id} showing {words!r}",
    )


async def test_a_pending_card_shows_the_note_the_flag_the_wait_and_four_buttons(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    settings = loop_settings(telegram_settings, low_confidence=60)
    async with running_service(settings, fake_telegram) as service:
        thread_id = (await client_writes(service, job_link=JOB_LINK))["thread_id"]
        created = await service.post_draft(
            thread_id=thread_id,
            confidence=40,
            note="The client tried to lower the price.",
            context={},
        )
        draft_id = created["draft_id"]
        [card_id] = await wait_shown(service, draft_id, 1)
        card = fake_telegram.message(OPERATOR_ID, card_id)

    assert "The client tried to lower the price." in card["text"]
    assert "⚠️ Low confidence (40% < 60%)" in card["text"]
    assert "⏳ The client has waited 0 min" in card["text"]
    assert JOB_LINK in card["text"]  # from the thread: the draft's context has none
    assert buttons(card) == [
        f"approve:{draft_id}",
        f"edit:{draft_id}",
        f"redraft:{draft_id}",
        f"reject:{draft_id}",
    ]


async def test_a_decision_on_one_copy_updates_the_others_and_mark_sent_closes_the_loop(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    async with running_service(loop_settings(telegram_settings), fake_telegram) as service:
        async with service.http.post(
            f"{service.url}/api/leads",
            json={
                "platform": "upwork",
                "title": "Widget",
                "budget": "$1k",
                "decision": "GO",
                "reason": "fits",
                "link": JOB_LINK,
            },
        ) as response:
            lead_id = (await response.json())["lead_id"]
        thread_id = (await client_writes(service, job_link=JOB_LINK))["thread_id"]
        draft_id = (await service.post_draft(thread_id=thread_id, lead_id=lead_id))["draft_id"]
        [card] = await wait_shown(service, draft_id, 1)
        copy = await copy_by_drafts(service, draft_id)

        answer = await service.answered(service.tap_message(f"approve:{draft_id}", copy))
        assert answer["text"] == "✅ Approved"
        for message_id in (card, copy):
            approved = await showing(service, message_id, "Approved by Nicolas")
            assert buttons(approved) == ["copy", "url", f"sent:{draft_id}"]
        edits = [  # the cards' edits (a session notice is edited in place too)
            c.params
            for c in fake_telegram.calls_to("editMessageText")
            if c.params["message_id"] in (card, copy)
        ]
        assert edits
        assert all(
            f"<pre>{html.escape(DRAFT['draft_text'], quote=False)}</pre>" in e["text"]
            for e in edits
        )  # type: ignore[arg-type]

        answer = await service.answered(service.tap_message(f"sent:{draft_id}", card))
        assert answer["text"] == "📤 Marked as sent"
        for message_id in (card, copy):
            assert buttons(await showing(service, message_id, "📤 Sent")) == []
        again = await service.answered(service.tap_message(f"sent:{draft_id}", copy))
        assert again["text"] == "Already marked as sent."

        draft = await service.draft(draft_id)
        assert draft.status == "sent" and draft.sent_at is not None
        assert [e.event for e in await service.events("draft.sent")] == ["draft.sent@1.0"]
        assert [e.event for e in await service.events("lead.sent")] == ["lead.sent@1.0"]
        async with service.db() as session:
            lead = await session.get(Lead, lead_id)
            out = (
                await session.scalars(
                    select(ThreadMessage).where(ThreadMessage.direction == "out")
                )
            ).all()
        assert lead is not None and lead.sent
        assert [(m.text, m.draft_id) for m in out] == [(DRAFT["draft_text"], draft_id)]
        thread = await api(service, f"/api/thread/{thread_id}")
        assert thread["waiting_since"] is None
        assert [m["direction"] for m in thread["messages"]] == ["in", "out"]


async def test_a_long_approved_text_has_no_copy_button_and_no_link_no_url_button(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    async with running_service(telegram_settings(port=free_port()), fake_telegram) as service:
        draft_id = (await service.post_draft(draft_text="x" * 257, context={}))["draft_id"]
        await wait_shown(service, draft_id, 1)
        await service.answered(await service.tap("approve", draft_id))
        card = await showing(service, service.card_message_id(draft_id), "Approved")
        assert buttons(card) == [f"sent:{draft_id}"]


async def test_drafts_stored_while_the_bot_was_off_get_their_cards_once_it_is_on(
    make_settings: Callable[..., Settings],
    telegram_settings: Callable[..., Settings],
    fake_telegram: FakeTelegram,
) -> None:
    async with running_service(
        make_settings(port=free_port()), fake_telegram, wait_ready=False
    ) as off:
        waiting = (await off.post_draft())["draft_id"]
        decided = (await off.post_draft(client="Decided Ltd"))["draft_id"]
        async with off.db() as session, session.begin():
            actor = draft_actions.Actor(1, "someone", via="test")
            await draft_actions.decide(
                session=session, draft_id=decided, status="rejected", actor=actor, deliver=None
            )
    assert fake_telegram.sent_messages() == []

    settings = telegram_settings(port=free_port())
    async with running_service(settings, fake_telegram) as service:
        await wait_shown(service, waiting, 1)
    async with running_service(settings, fake_telegram) as service:
        pass  # a second start queues nothing more
    cards = [m for m in fake_telegram.delivered() if "New draft" in m["text"]]
    assert [waiting in m["text"] for m in cards] == [True]


async def test_a_card_sent_after_its_draft_was_decided_loses_its_buttons(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    async with running_service(telegram_settings(port=free_port()), fake_telegram) as service:
        fake_telegram.fail_next("sendMessage", status=502, times=2)
        draft_id = (await service.post_draft())["draft_id"]
        # Decided elsewhere (the Mini App) while its card waits on Telegram.
        async with service.db() as session, session.begin():
            actor = draft_actions.Actor(OPERATOR_ID, "Nicolas", via="mini_app")
            outcome = await draft_actions.decide(
                session=session, draft_id=draft_id, status="approved", actor=actor, deliver=None
            )
            assert outcome.changed
        [card] = await wait_shown(service, draft_id, 1)
        final = await showing(service, card, "Approved by Nicolas")
        assert f"approve:{draft_id}" not in buttons(final)


async def test_a_copy_whose_edit_failed_before_a_restart_is_corrected_after_it(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    settings = telegram_settings(port=free_port())
    async with running_service(settings, fake_telegram) as service:
        draft_id = (await service.post_draft())["draft_id"]
        [card] = await wait_shown(service, draft_id, 1)
        fake_telegram.fail_next("editMessageText", status=502, times=4)
        await service.answered(await service.tap("approve", draft_id))
        # The service stops before the edit got through.
    assert f"approve:{draft_id}" in buttons(fake_telegram.message(OPERATOR_ID, card))

    async with running_service(settings, fake_telegram) as service:
        final = await showing(service, card, "Approved by Nicolas")
        assert f"approve:{draft_id}" not in buttons(final)
