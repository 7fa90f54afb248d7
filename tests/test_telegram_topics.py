"""Forum topics (CONTRACT §14, bot/telegram/topics.py), in the running service with the fake
Bot API: a command is answered in the topic it was typed in, whether the answer is sent at
once or queued in the outbox; a draft's card copy goes to its thread's topic; a command typed
in the general topic is answered there.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from bot.settings import Settings
from tests.citizens_support import FakeClaude
from tests.fake_telegram import FakeTelegram
from tests.signed_posts import post_signed
from tests.telegram_support import Service, free_port, running_service
from tests.telegram_updates import message_update

SECRET = "topics-secret-7a3e"
CARD_COPY = "📝 Pending draft by"
THREADS = "Conversations, the latest first"
FORUM = -100777
ASKED = 9_000_001
"""A topic the operator made for talking to the bot (not a thread's)."""

pytestmark = pytest.mark.usefixtures("citizens_home")


@pytest.fixture
def forum_settings(
    telegram_settings: Callable[..., Settings],
    fake_claude: FakeClaude,
    fake_telegram: FakeTelegram,
) -> Settings:
    fake_telegram.forums.add(FORUM)
    fake_telegram.topics[(FORUM, ASKED)] = "Bot"
    return telegram_settings(  # type: ignore[no-any-return]
        port=free_port(),
        webhook_secret=SECRET,
        claude_bin=str(fake_claude.bin),
        citizen_timeout_s=30,
        telegram_chat_id=FORUM,
    )


def command(service: Service, text: str, topic: int | None) -> None:
    """The operator types `text` in the forum, in `topic` (None: the general topic)."""
    update = message_update(text, chat_id=FORUM)
    update["message"]["chat"]["is_forum"] = True
    if topic is not None:
        update["message"] |= {"message_thread_id": topic, "is_topic_message": True}
    service.fake.inject_update(update)


def sent(service: Service, needle: str) -> list[dict[str, Any]]:
    """What reached the forum showing `needle`, as Telegram answered it."""
    return [m for m in service.fake.delivered(FORUM) if needle in m["text"]]


async def one(service: Service, needle: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = await service.fake.wait_for(
        lambda: sent(service, needle), timeout=30, what=repr(needle)
    )
    assert len(found) == 1, found
    return found[0]


async def client_writes(service: Service, message: str) -> str:
    document = {"client": "Jane Roe", "job_title": "Chat widget", "message": message}
    url = f"{service.url}/webhook/upwork-response"
    accepted = await post_signed(service.http, url, SECRET, document | {"thread": "t1"})
    return str(accepted["thread_id"])


async def test_commands_typed_in_a_topic_are_answered_in_it(
    forum_settings: Settings, fake_telegram: FakeTelegram
) -> None:
    async with running_service(forum_settings, fake_telegram) as service:
        await client_writes(service, "About the widget?\nFAKE:draft")
        notice = await one(service, "Jane Roe wrote")
        jane_topic = notice["message_thread_id"]
        assert jane_topic != ASKED
        # The draft's card takes that message over (an edit, in the thread's topic).
        await service.fake.wait_for(
            lambda: "approve:" in json.dumps(service.fake.message(FORUM, notice["message_id"])),
            timeout=30,
            what="Jane's draft card",
        )
        loose = await service.post_draft(client="Walk-in Client")  # a draft of no thread
        loose_id = loose["draft_id"]

        command(service, "/help", ASKED)
        command(service, "/threads", ASKED)
        command(service, f"/draft {loose_id[:8]}", ASKED)
        command(service, "/draft zz", ASKED)
        command(service, "/leads", ASKED)
        command(service, "/events draft.", ASKED)
        command(service, "/trigger emma rank the posts", ASKED)
        command(service, "/stats 7", ASKED)
        command(service, "/drafts", ASKED)

        answers = {
            "/help": "🔒 ScopeLock:",
            "/threads": THREADS,
            "/draft <id>": "📄 Draft for Walk-in Client",
            "/draft usage": "Usage: /draft",
            "/leads": "No leads yet.",
            "/events": "Recent events (draft.)",
            "/trigger": "emma session",
            "/drafts": "📋 2 pending drafts: 1 of the cards follow",
        }
        for asked, needle in answers.items():
            message = await one(service, needle)
            assert message.get("message_thread_id") == ASKED, asked
        # The card copies /drafts sends: a thread's in its topic, the other where asked.
        copies = await service.fake.wait_for(
            lambda: len(sent(service, CARD_COPY)) == 2 and sent(service, CARD_COPY),
            timeout=30,
            what="the two card copies",
        )
        where = {"Walk-in Client" in m["text"]: m.get("message_thread_id") for m in copies}
        assert where == {False: jane_topic, True: ASKED}
        [album] = await service.fake.wait_for(
            lambda: service.fake.calls_to("sendMediaGroup"), timeout=30, what="the charts"
        )
        assert album.params.get("message_thread_id") == ASKED
        [action] = service.fake.calls_to("sendChatAction")
        assert action.params.get("message_thread_id") == ASKED

        # Typed in the general topic: answered there, with no topic.
        command(service, "/threads", None)
        await service.fake.wait_for(
            lambda: len(sent(service, THREADS)) == 2, what="the second /threads"
        )
        assert "message_thread_id" not in sent(service, THREADS)[1]


async def test_an_answer_whose_topic_was_deleted_goes_to_the_general_topic(
    forum_settings: Settings, fake_telegram: FakeTelegram
) -> None:
    async with running_service(forum_settings, fake_telegram) as service:
        loose = await service.post_draft(client="Walk-in Client")
        # The topic is deleted after the command was typed in it, before the answer goes.
        command(service, "/drafts", ASKED)
        del fake_telegram.topics[(FORUM, ASKED)]
        copy = await service.fake.wait_for(
            lambda: [m for m in sent(service, CARD_COPY) if loose["draft_id"] in m["text"]],
            timeout=30,
            what="the card copy",
        )
        assert "message_thread_id" not in copy[0]
