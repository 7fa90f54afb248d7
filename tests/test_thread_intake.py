"""A client's message joins its thread (§9): matching, superseding the stale drafts and every
copy of their cards, and what the thread view shows."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bot.settings import Settings
from tests.fake_telegram import FakeTelegram
from tests.loop_support import (
    JOB_LINK,
    api,
    client_writes,
    copy_by_drafts,
    loop_settings,
    wait_shown,
)
from tests.telegram_support import buttons, running_service
from tests.telegram_updates import OPERATOR_ID

pytestmark = pytest.mark.usefixtures("citizens_home")


async def test_a_client_writing_twice_supersedes_the_first_draft_and_all_its_cards(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    async with running_service(loop_settings(telegram_settings), fake_telegram) as service:
        first = await client_writes(service, thread="gmail-1", job_link=JOB_LINK)
        thread_id = first["thread_id"]
        draft_id = (await service.post_draft(thread_id=thread_id))["draft_id"]
        [card] = await wait_shown(service, draft_id, 1)
        copy = await copy_by_drafts(service, draft_id)
        for message_id in (card, copy):
            assert f"approve:{draft_id}" in buttons(fake_telegram.message(OPERATOR_ID, message_id))

        second = await client_writes(service, thread="gmail-1", message="And the budget?")

        assert second["thread_id"] == thread_id and second["session_id"] != first["session_id"]
        assert (await service.draft(draft_id)).status == "superseded"
        [event] = await service.events("draft.superseded")
        assert event.payload["draft_id"] == draft_id
        for message_id in (card, copy):
            message = await fake_telegram.wait_for(
                lambda m=message_id: (
                    "client wrote again"
                    in (found := fake_telegram.message(OPERATOR_ID, m))["text"]
                    and found
                ),
                what=f"message {message_id} saying the client wrote again",
            )
            assert buttons(message) == []

        thread = await api(service, f"/api/thread/{thread_id}")
        assert [(m["direction"], m["text"]) for m in thread["messages"]] == [
            ("in", "Can you start Monday?"),
            ("in", "And the budget?"),
        ]
        assert thread["waiting_since"] == thread["messages"][0]["at"]
        assert thread["job_link"] == JOB_LINK
        assert [(d["id"], d["status"]) for d in thread["drafts"]] == [(draft_id, "superseded")]
        assert len(thread["sessions"]) == 2
        names = [e.event for e in await service.events("thread.")]
        assert names == ["thread.message.received@1.0"] * 2


async def test_messages_find_their_thread_by_key_link_or_client_and_title(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    async with running_service(loop_settings(telegram_settings), fake_telegram) as service:
        keyed = await client_writes(service, thread="gmail-7", job_title="SSO")
        by_key = await client_writes(service, thread="gmail-7", client="someone else")
        linked = await client_writes(service, job_link=JOB_LINK, client="Beta LLC")
        # Another sender's name and a key of its own: only the link can find the thread.
        by_link = await client_writes(
            service, job_link=JOB_LINK, client="Ann at Beta", job_title="Bot", thread="new"
        )
        titled = await client_writes(service, client="Gamma", job_title="Chat Widget")
        by_title = await client_writes(service, client="GAMMA", job_title="chat widget")
        other_job = await client_writes(service, client="Gamma", job_title="Another job")

        assert by_key["thread_id"] == keyed["thread_id"]
        assert by_link["thread_id"] == linked["thread_id"]
        assert by_title["thread_id"] == titled["thread_id"]
        ids = {
            keyed["thread_id"],
            linked["thread_id"],
            titled["thread_id"],
            other_job["thread_id"],
        }
        assert len(ids) == 4
        listing = await api(service, "/api/threads")
        assert listing["threads"][0]["id"] == other_job["thread_id"]
        assert {t["platform"] for t in listing["threads"]} == {"upwork"}

        # /threads: the latest first, with what waits in each.
        service.say("/threads")
        text = await fake_telegram.wait_for(
            lambda: next(
                (m["text"] for m in fake_telegram.delivered() if "Conversations" in m["text"]),
                None,
            ),
            what="the /threads answer",
        )
        assert text.index("Another job") < text.index("Chat Widget") < text.index("Beta LLC")
        assert "waiting" in text and "rafael is drafting a reply" in text
