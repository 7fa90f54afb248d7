"""No client left behind (CONTRACT §14), in the running service with the fake Bot API and the
fake `claude`: every message is read as Telegram renders it (the fake keeps the visible text).

A client's message shows at once and is the notice of the session answering it; its draft's
card takes that message over; a failed session offers Retry and Answer, naming the client; a
draft that answers an older message is superseded at once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import html
import itertools
import json
import re
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.day.loop import OperatorDay
from bot.settings import Settings
from bot.telegram import waiting
from citizens import thread_notices
from citizens.notices import SessionNotices, notice_text
from storage.models import (
    CitizenSession,
    Draft,
    Event,
    OutboxMessage,
    PendingStep,
    Thread,
    ThreadMessage,
)
from storage.repo import citizen_queue, outbox
from storage.repo.thread_waits import ThreadWaiting
from storage.types import utcnow
from tests.citizens_support import FakeClaude
from tests.conftest import TELEGRAM_TOKEN
from tests.fake_telegram import FakeTelegram
from tests.miniapp_support import headers as miniapp_headers
from tests.signed_posts import post_signed
from tests.telegram_support import FAST, Service, buttons, free_port, running_service
from tests.telegram_updates import OPERATOR_ID, callback_query_update
from web.app import create_app

SECRET = "thread-first-secret-5c1e"
TICKING = dataclasses.replace(FAST, day_tick_s=0.1)

pytestmark = pytest.mark.usefixtures("citizens_home")


@pytest.fixture
def settings_for(
    telegram_settings: Callable[..., Settings], fake_claude: FakeClaude
) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "port": free_port(),
            "webhook_secret": SECRET,
            "claude_bin": str(fake_claude.bin),
            "citizen_timeout_s": 30,
        }
        return telegram_settings(**(values | overrides))

    return make


async def client_writes(service: Service, message: str, **fields: Any) -> dict[str, Any]:
    document = {"client": "Jane Roe", "job_title": "Chat widget", "message": message, **fields}
    return await post_signed(
        service.http, f"{service.url}/webhook/upwork-response", SECRET, document
    )


def shown(service: Service, message_id: int) -> dict[str, Any]:
    """The message as the operator's Telegram shows it now."""
    return service.fake.message(OPERATOR_ID, message_id)


async def arrived(service: Service, needle: str, timeout: float = 30) -> int:
    """The id of the first message sent to the operator that shows `needle`."""

    def find() -> int | None:
        return next(
            (m["message_id"] for m in service.fake.delivered(OPERATOR_ID) if needle in m["text"]),
            None,
        )

    return int(
        await service.fake.wait_for(find, timeout=timeout, what=f"a message with {needle!r}")
    )


async def until_shows(service: Service, message_id: int, needle: str) -> dict[str, Any]:
    def find() -> dict[str, Any] | None:
        message = shown(service, message_id)
        return message if needle in message["text"] else None

    return await service.fake.wait_for(  # type: ignore[no-any-return]
        find, timeout=30, what=f"message {message_id} to show {needle!r}"
    )


def _draft_cards(service: Service) -> list[int]:
    """Where, in the fake's call log, a draft's card (its Approve button) reached the API."""
    return [
        index
        for index, call in enumerate(service.fake.calls)
        if call.ok and "approve:" in json.dumps(call.params.get("reply_markup") or {})
    ]


def _sent_at(service: Service, message_id: int) -> int:
    """Where, in the fake's call log, the message `message_id` was sent."""
    return next(
        index
        for index, call in enumerate(service.fake.calls)
        if call.method == "sendMessage" and call.ok and call.result["message_id"] == message_id
    )


async def sessions_of(service: Service, thread_id: str) -> list[CitizenSession]:
    async with service.db() as session:
        rows = await session.scalars(
            select(CitizenSession)
            .where(CitizenSession.thread_id == thread_id)  # type: ignore[arg-type]
            .order_by(CitizenSession.created_at)  # type: ignore[arg-type]
        )
        return list(rows.all())


async def _all_ended(service: Service, thread_id: str) -> list[CitizenSession] | None:
    rows = await sessions_of(service, thread_id)
    return rows if all(row.status in ("completed", "failed") for row in rows) else None


async def test_a_session_failing_after_its_draft_points_to_the_card_not_to_retry(
    settings_for: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    """The budget or the timeout can stop a session after `create_draft`: the draft's card
    has the message, so the reply says so and offers no Retry / Answer it does not have."""
    async with running_service(settings_for(), fake_telegram) as service:
        await client_writes(service, "Any news?\nFAKE:draft\nFAKE:subtype=error_max_budget_usd")
        notice_id = await arrived(service, "Jane Roe wrote")
        reply = await service.fake.wait_for(
            lambda: next(
                (
                    m
                    for m in service.fake.sent_messages(OPERATOR_ID)
                    if m.get("reply_parameters", {}).get("message_id") == notice_id
                ),
                None,
            ),
            timeout=30,
            what="the failure reply",
        )
        card = shown(service, notice_id)

    assert "failed after posting its draft" in reply["text"] and "Jane Roe" in reply["text"]
    assert "Retry" not in reply["text"] and "Answer" not in reply["text"]
    assert "approve:" in "".join(buttons(card))


async def test_a_clients_message_shows_at_once_and_a_failure_offers_retry(
    settings_for: Callable[..., Settings], fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    login, gate = tmp_path / "logged-in", tmp_path / "gate"
    async with running_service(settings_for(), fake_telegram) as service:
        long_tail = " and more details" * 1500  # 25,500 characters: the quote is cut to fit
        accepted = await client_writes(
            service,
            f"Can we add SSO <b>too</b>?{long_tail}\nFAKE:wait-for={gate}"
            f"\nFAKE:fail-unless={login}\nFAKE:draft",
        )
        thread_id = accepted["thread_id"]
        # rafael is held until the gate opens: the client's message cannot wait for a draft.
        notice_id = await arrived(service, "Jane Roe wrote", timeout=15)
        first = shown(service, notice_id)["text"]
        assert "💼 Chat widget" in first and "Can we add SSO <b>too</b>? and more" in first
        assert "rafael is drafting a reply" in first
        assert "and more…" in first or "more details…" in first  # cut between words
        assert len(first) < 1000
        assert _draft_cards(service) == []
        gate.touch()

        # No login: the same message now says so, with Retry and Answer.
        failed = await until_shows(service, notice_id, "could not draft a reply")
        assert "Not logged in · Please run /login" in failed["text"]
        assert buttons(failed) == [f"retry:{thread_id}", f"answer:{thread_id}"]
        # ... and a reply that notifies names the client.
        reply = await service.fake.wait_for(
            lambda: next(
                (
                    m
                    for m in service.fake.sent_messages(OPERATOR_ID)
                    if m.get("reply_parameters", {}).get("message_id") == notice_id
                ),
                None,
            ),
            what="the failure reply",
        )
        assert "Jane Roe" in reply["text"] and "Chat widget" in reply["text"]
        assert not reply.get("disable_notification")
        assert "session failed" not in "".join(m["text"] for m in service.fake.delivered())

        # Logged in again, Retry asks rafael once more: the same message drafts again.
        login.touch()
        service.tap_message(f"retry:{thread_id}", notice_id)
        await until_shows(service, notice_id, "is drafting")
        card = await service.fake.wait_for(
            lambda: (
                "approve:" in "".join(buttons(shown(service, notice_id)))
                and shown(service, notice_id)
            ),
            timeout=30,
            what="the draft's card in place of the client's message",
        )
        assert "A reply drafted by the fake claude." in card["text"]
        # The client's message reached the Bot API before any draft card did.
        assert _sent_at(service, notice_id) < min(_draft_cards(service))
        ended = await service.fake.wait_for(
            lambda: _all_ended(service, thread_id), timeout=30, what="the retry to end"
        )
        first_try, retry = ended
        assert (first_try.status, retry.status) == ("failed", "completed")
        assert (retry.citizen, retry.trigger, retry.prompt) == (
            "rafael",
            "retry",
            first_try.prompt,
        )


async def test_answer_myself_stores_an_approved_operator_draft_offered_like_any(
    settings_for: Callable[..., Settings], fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    async with running_service(settings_for(), fake_telegram) as service:
        accepted = await client_writes(
            service, f"Budget?\nFAKE:fail-unless={tmp_path / 'never'}\nFAKE:draft"
        )
        thread_id = accepted["thread_id"]
        notice_id = await arrived(service, "Jane Roe wrote")
        await until_shows(service, notice_id, "could not draft a reply")

        service.tap_message(f"answer:{thread_id}", notice_id)
        question = await arrived(service, "Type your reply to Jane Roe")
        assert "Budget?" in shown(service, question)["text"]
        service.say("Our budget is $5k <i>fixed</i>.")
        card_id = await arrived(service, "Your reply")
        card = shown(service, card_id)
        assert "Our budget is $5k <i>fixed</i>." in card["text"]
        assert "Approved" in card["text"]
        async with service.db() as session:
            [draft] = (await session.scalars(select(Draft))).all()
        assert (draft.citizen, draft.status, draft.thread_id) == (
            "operator",
            "approved",
            thread_id,
        )
        assert draft.draft_text == "Our budget is $5k <i>fixed</i>."
        assert f"sent:{draft.id}" in buttons(card) and "copy" in buttons(card)
        names = [e.event for e in await service.events("draft.")]
        assert names == ["draft.created@1.0", "draft.approved@1.0"]
        # The client's message no longer offers Retry / Answer: it shows the reply too.
        await service.fake.wait_for(
            lambda: f"sent:{draft.id}" in buttons(shown(service, notice_id)),
            what="the client's message to show the approved reply",
        )

        service.tap_message(f"sent:{draft.id}", card_id)
        await until_shows(service, card_id, "Sent")
        async with service.db() as session:
            thread = await session.get(Thread, thread_id)
        assert thread is not None and thread.waiting_since is None

        # Answered: a second ✍️ Answer says so, and no step waits for a text.
        alert = await service.answered(service.tap_message(f"answer:{thread_id}", notice_id))
        async with service.db() as session:
            waiting_steps = (await session.scalars(select(PendingStep))).all()
    assert alert["text"] == "The client was answered already: there is nothing to answer."
    assert alert.get("show_alert") is True
    assert waiting_steps == []


async def test_a_long_answer_of_mine_follows_its_card_whole_in_blocks(
    settings_for: Callable[..., Settings], fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    """The operator's own reply, as long as a Telegram message may be: its card cannot hold it
    beside the client's message, so the card says so and the text follows whole (§14)."""
    reply = "\n\n".join(
        "We can start Monday and ship the payment flow first. " * 9 for _ in range(8)
    )[:4000]
    async with running_service(settings_for(), fake_telegram) as service:
        accepted = await client_writes(
            service, "Budget? " * 100 + f"\nFAKE:fail-unless={tmp_path / 'never'}\nFAKE:draft"
        )
        notice_id = await arrived(service, "Jane Roe wrote")
        await until_shows(service, notice_id, "could not draft a reply")
        service.tap_message(f"answer:{accepted['thread_id']}", notice_id)
        await arrived(service, "Type your reply to Jane Roe")
        service.say(reply)
        card_id = await arrived(service, "Your reply")
        await service.fake.wait_for(
            lambda: sum("The reply to" in m["text"] for m in service.fake.sent_messages()) >= 2,
            what="the reply's blocks",
        )
        follow = [m for m in service.fake.sent_messages() if "The reply to" in m["text"]]
    assert "Too long for this card" in shown(service, card_id)["text"]
    pre = re.compile(r"<pre>(.*?)</pre>", re.S)
    assert "".join(html.unescape(b) for m in follow for b in pre.findall(m["text"])) == reply
    assert all(m["reply_parameters"]["message_id"] == card_id for m in follow)


async def test_a_draft_answering_an_older_message_is_superseded_at_once(
    settings_for: Callable[..., Settings], fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    async with running_service(settings_for(), fake_telegram) as service:
        first = await client_writes(
            service, f"First?\nFAKE:wait-for={gate}\nFAKE:draft", thread="g1"
        )
        first_notice = await arrived(service, "First?")
        await until_shows(service, first_notice, "drafting a reply…")  # running
        second = await client_writes(service, "Second!\nFAKE:draft", thread="g1")
        assert second["thread_id"] == first["thread_id"]
        gate.touch()
        stale = await until_shows(service, first_notice, "Superseded")
        assert not buttons(stale)
        second_notice = await arrived(service, "Second!")
        fresh = await service.fake.wait_for(
            lambda: (
                "approve:" in "".join(buttons(shown(service, second_notice)))
                and shown(service, second_notice)
            ),
            timeout=30,
            what="the newer message's draft",
        )
        async with service.db() as session:
            drafts = (await session.scalars(select(Draft).order_by(Draft.created_at))).all()  # type: ignore[arg-type]
            superseded = (
                await session.scalars(
                    select(Event).where(Event.event == "draft.superseded@1.0")  # type: ignore[arg-type]
                )
            ).all()
        assert [d.status for d in drafts] == ["superseded", "pending"]
        assert [e.payload["draft_id"] for e in superseded] == [drafts[0].id]
        # Counted in /api/stats by when it was superseded (its creation), like every supersede.
        assert drafts[0].decided_at == drafts[0].created_at
        async with service.http.get(f"{service.url}/api/stats?days=1") as response:
            [today] = (await response.json())["drafts_per_day"]
        assert today["superseded"] == 1
        assert drafts[1].id in fresh["text"] and drafts[0].id in stale["text"]


async def test_a_client_waiting_with_no_draft_is_listed_and_reminded(
    settings_for: Callable[..., Settings], fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    settings = settings_for(remind_after_s=1)
    async with running_service(settings, fake_telegram, tuning=TICKING) as service:
        accepted = await client_writes(service, f"Hello?\nFAKE:fail-unless={tmp_path / 'no'}")
        thread_id = accepted["thread_id"]
        notice_id = await arrived(service, "Jane Roe wrote")
        await until_shows(service, notice_id, "could not draft a reply")
        failure_id = await arrived(service, "is waiting for an answer")

        reminder = await service.fake.wait_for(
            lambda: [m for m in service.fake.sent_messages(OPERATOR_ID) if "⏰" in m["text"]],
            what="the reminder",
        )
        [reminded] = reminder
        # A reply to the thread's latest message about it (§14): the failure's reply, which
        # came after the client's message.
        assert failure_id > notice_id
        assert reminded["reply_parameters"]["message_id"] == failure_id
        shown_reminder = service.fake.message(OPERATOR_ID, _id_of(service, reminded))
        assert "Jane Roe has waited" in shown_reminder["text"]
        assert "rafael could not draft a reply" in shown_reminder["text"]
        assert buttons(shown_reminder) == [f"retry:{thread_id}", f"answer:{thread_id}"]

        service.say("/drafts")
        listing_id = await arrived(service, "Waiting, no draft")
        listing = shown(service, listing_id)
        assert "Jane Roe · Chat widget" in listing["text"]
        assert "rafael could not draft a reply" in listing["text"]
        assert buttons(listing) == [f"retry:{thread_id}", f"answer:{thread_id}"]

        service.say("/threads")
        threads_id = await arrived(service, "Conversations")
        line = shown(service, threads_id)["text"]
        assert "Jane Roe" in line and "rafael could not draft a reply" in line
        assert "being written" not in line

        # One reminder for one wait, however many ticks pass.
        async with service.db() as session:
            thread = await session.get(Thread, thread_id)
        assert thread is not None and thread.reminded_at is not None
        await service.fake.wait_for(
            lambda: _ticked_since(service, thread.reminded_at), what="more ticks"
        )
        assert len([m for m in service.fake.sent_messages(OPERATOR_ID) if "⏰" in m["text"]]) == 1


def _id_of(service: Service, sent: dict[str, Any]) -> int:
    for call in service.fake.calls_to("sendMessage"):
        if call.params is sent:
            return int(call.result["message_id"])
    raise AssertionError("not sent")


async def _ticked_since(service: Service, moment: Any) -> bool:
    """The operator's day has ticked well past `moment` (it writes nothing, so wait on time)."""
    return bool((utcnow() - moment).total_seconds() > 20 * TICKING.day_tick_s)


async def test_the_digest_and_the_mini_app_inbox_list_clients_waiting_with_no_draft(
    make_settings: Callable[..., Settings],
    db: async_sessionmaker[AsyncSession],
    aiohttp_client: Any,
    engine: AsyncEngine,
) -> None:
    settings = make_settings(
        telegram_bot_token=TELEGRAM_TOKEN,
        telegram_chat_id=OPERATOR_ID,
        remind_after_s=0,
        digest_at="00:00",
        timezone="UTC",
    )
    two_hours_ago = utcnow() - timedelta(hours=2)
    async with db() as session, session.begin():
        thread = Thread(
            id=str(uuid.uuid4()),
            platform="upwork",
            client="Ada <Lovelace>",
            job_title="Engine",
            waiting_since=two_hours_ago,
            last_message_at=two_hours_ago,
        )
        session.add(thread)
        await session.flush()
        session.add(
            CitizenSession(
                id=str(uuid.uuid4()),
                citizen="rafael",
                trigger="upwork-response",
                prompt="p",
                status="failed",
                error="worker lost",
                thread_id=thread.id,
            )
        )
    day = OperatorDay(settings, db, kick=lambda: None, tick_s=60)
    await day.tick()
    async with db() as session:
        [digest] = (await session.scalars(select(OutboxMessage.text))).all()
    assert "Clients waiting, no draft (1)" in digest
    assert "Ada &lt;Lovelace&gt; · Engine — 2 h 0" in digest
    assert "rafael could not draft a reply" in digest
    assert "Nothing waits for you" not in digest

    client: TestClient = await aiohttp_client(create_app(settings, engine))
    response = await client.get("/app/api/drafts", headers=miniapp_headers())
    assert response.status == 200
    page = await response.json()
    assert page["drafts"] == []
    [waiting] = page["waiting"]
    assert (waiting["thread_id"], waiting["client"], waiting["job_title"]) == (
        thread.id,
        "Ada <Lovelace>",
        "Engine",
    )
    assert waiting["state"].startswith("❌ rafael could not draft a reply")


FORUM = -100555


async def test_in_a_forum_each_thread_has_its_topic_and_other_messages_stay_general(
    settings_for: Callable[..., Settings], fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    fake_telegram.forums.add(FORUM)
    settings = settings_for(telegram_chat_id=FORUM, remind_after_s=1)
    async with running_service(settings, fake_telegram, tuning=TICKING) as service:
        jane = await client_writes(service, "About the widget?\nFAKE:draft", thread="t-jane")
        bob = await client_writes(
            service,
            f"And my app?\nFAKE:fail-unless={tmp_path / 'no'}",
            client="Bob Stone",
            job_title="Mobile app",
            thread="t-bob",
        )
        again = await client_writes(service, "Jane again\nFAKE:draft", thread="t-jane")
        assert again["thread_id"] == jane["thread_id"]

        def sent_about(needle: str) -> list[dict[str, Any]]:
            return [m for m in service.fake.delivered(FORUM) if needle in m["text"]]

        await service.fake.wait_for(lambda: sent_about("Jane again"), what="Jane's second message")
        await service.fake.wait_for(lambda: sent_about("⏰ Bob Stone"), what="Bob's reminder")
        await service.fake.wait_for(
            lambda: sent_about("Bob Stone (Mobile app) is waiting"), what="Bob's failure reply"
        )
        topics = {name: topic for (chat, topic), name in service.fake.topics.items()}
        assert sorted(topics) == ["Bob Stone · Mobile app", "Jane Roe · Chat widget"]
        assert len(service.fake.calls_to("createForumTopic")) == 2  # once per thread
        jane_topic, bob_topic = topics["Jane Roe · Chat widget"], topics["Bob Stone · Mobile app"]
        for message in sent_about("Jane Roe wrote"):
            assert message["message_thread_id"] == jane_topic
        assert len(sent_about("Jane Roe wrote")) == 2
        for needle in ("Bob Stone wrote", "⏰ Bob Stone", "Bob Stone (Mobile app) is waiting"):
            [message] = sent_about(needle)
            assert message["message_thread_id"] == bob_topic, needle

        # Answer tapped in Bob's topic: the question is asked there too.
        [bob_notice] = sent_about("Bob Stone wrote")
        update = callback_query_update(
            f"answer:{bob['thread_id']}", chat_id=FORUM, message_id=bob_notice["message_id"]
        )
        update["callback_query"]["message"] |= {
            "message_thread_id": bob_topic,
            "is_topic_message": True,
        }
        service.fake.inject_update(update)
        await service.fake.wait_for(lambda: sent_about("Type your reply"), what="the question")
        [question] = sent_about("Type your reply")
        assert question["message_thread_id"] == bob_topic

        # A message about no thread goes to the general topic.
        service.say("/trigger emma rank the posts", chat_id=FORUM)
        await service.fake.wait_for(lambda: sent_about("emma"), what="emma's notice")
        assert all("message_thread_id" not in m for m in sent_about("emma"))
        async with service.db() as session:
            stored = {t.client: t.topic_id for t in (await session.scalars(select(Thread))).all()}
        assert stored == {"Jane Roe": jane_topic, "Bob Stone": bob_topic}


async def test_after_a_failed_redraft_the_client_is_still_offered_retry_and_answer(
    settings_for: Callable[..., Settings], fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    async with running_service(settings_for(), fake_telegram) as service:
        accepted = await client_writes(service, "Quote?\nFAKE:draft")
        thread_id = accepted["thread_id"]
        notice_id = await arrived(service, "Jane Roe wrote")
        await service.fake.wait_for(
            lambda: "approve:" in "".join(buttons(shown(service, notice_id))),
            timeout=30,
            what="the draft's card",
        )
        async with service.db() as session:
            [draft] = (await session.scalars(select(Draft))).all()
        service.tap_message(f"redraft:{draft.id}", notice_id)
        await arrived(service, "What should the new version")
        service.say(f"Shorter.\nFAKE:fail-unless={tmp_path / 'never'}")
        await until_shows(service, notice_id, "Redrafting")
        drafting = await service.fake.wait_for(
            lambda: [m for m in service.fake.delivered(OPERATOR_ID) if "is drafting" in m["text"]][
                1:
            ],
            what="the redraft session's message",
        )
        failed = await until_shows(service, drafting[0]["message_id"], "could not draft a reply")
        assert buttons(failed) == [f"retry:{thread_id}", f"answer:{thread_id}"]

        service.say("/threads")
        threads_id = await arrived(service, "Conversations")
        line = shown(service, threads_id)["text"]
        assert "rafael could not draft a reply" in line
        assert "being written" not in line


async def test_a_thread_session_failed_as_worker_lost_offers_retry_and_answer(
    db: async_sessionmaker[AsyncSession],
) -> None:
    """The reaper's failure (`worker lost`) goes through the same notices as any other."""
    thread_id = str(uuid.uuid4())
    async with db() as session, session.begin():
        session.add(Thread(id=thread_id, platform="upwork", client="Ada", job_title="Engine"))
        await session.flush()
        session.add(ThreadMessage(thread_id=thread_id, direction="in", text="Any news?"))
        notice = await outbox.enqueue(
            session=session, chat_id=OPERATOR_ID, text="💬 Ada wrote", thread_id=thread_id
        )
        row = await citizen_queue.enqueue(
            session=session, citizen="rafael", trigger="upwork-response", prompt="p",
            thread_id=thread_id,
        )  # fmt: skip
        row.notice_outbox_id, row.status = notice, "running"
    notices = SessionNotices(enabled=True, operator_chat=lambda: OPERATOR_ID)
    async with db() as session, session.begin():
        ended = await citizen_queue.finish(
            session=session, session_id=row.id, status="failed", error="worker lost"
        )
        assert ended is not None
        await notices.finished(session=session, row=ended)
    async with db() as session:
        queued = (
            await session.scalars(
                select(OutboxMessage).where(OutboxMessage.id > notice)  # type: ignore[arg-type,operator]
            )
        ).all()
    edit, reply = queued
    assert edit.edit_outbox_id == notice and "could not draft a reply: worker lost" in edit.text
    assert edit.reply_markup == thread_notices.markup(thread_id)
    assert reply.reply_to_outbox_id == notice and not reply.silent
    assert "<b>Ada</b> (Engine) is waiting" in reply.text and reply.thread_id == thread_id


@contextlib.contextmanager
def orm_statements(engine: AsyncEngine) -> Iterator[list[str]]:
    """The statements SQLAlchemy sends while the block runs, on either database
    (tests/statements.py sees only the driver's own queries on PostgreSQL)."""
    seen: list[str] = []

    def keep(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        seen.append(sql)

    event.listen(engine.sync_engine, "before_cursor_execute", keep)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", keep)


async def test_a_thread_sessions_notice_asks_once_whether_it_drafted(
    engine: AsyncEngine, db: async_sessionmaker[AsyncSession]
) -> None:
    """Starting and ending, the notice of a thread session asks the database whether the
    session posted a draft once each (it asked two and three times)."""
    thread_id = str(uuid.uuid4())
    async with db() as session, session.begin():
        session.add(Thread(id=thread_id, platform="upwork", client="Ada", job_title="Engine"))
        await session.flush()
        session.add(ThreadMessage(thread_id=thread_id, direction="in", text="Any news?"))
        row = await citizen_queue.enqueue(
            session=session, citizen="rafael", trigger="upwork-response", prompt="p",
            thread_id=thread_id,
        )  # fmt: skip
        row.notice_outbox_id = await outbox.enqueue(
            session=session, chat_id=OPERATOR_ID, text="💬 Ada wrote", thread_id=thread_id
        )
        row.status = "running"
    notices = SessionNotices(enabled=True, operator_chat=lambda: OPERATOR_ID)
    asked = []
    for status in ("running", "failed"):
        with orm_statements(engine) as statements:
            async with db() as session, session.begin():
                if status == "running":
                    now = await session.get(CitizenSession, row.id)
                    assert now is not None
                    await notices.started(session=session, row=now)
                else:
                    ended = await citizen_queue.finish(
                        session=session, session_id=row.id, status="failed", error="boom"
                    )
                    assert ended is not None
                    await notices.finished(session=session, row=ended)
        asked.append(sum("drafts.session_id" in sql for sql in statements))
    assert asked == [1, 1]
    async with db() as session:
        edits = (
            await session.scalars(
                select(OutboxMessage).where(
                    OutboxMessage.edit_outbox_id == row.notice_outbox_id  # type: ignore[arg-type]
                )
            )
        ).all()
    assert [("drafting a reply…" in e.text, "could not draft" in e.text) for e in edits] == [
        (True, False),
        (False, True),
    ]


def test_what_a_waiting_client_waits_for_reads_with_one_colon_at_most() -> None:
    """Read on a phone, "No draft: ❌ its draft was rejected: nothing is being written:
    Retry or Answer in the chat" was a riddle; each line says one thing."""
    now = utcnow()
    thread = Thread(
        id="t-ada", platform="upwork", client="Ada", job_title="Engine", waiting_since=now
    )

    def session(status: str, **fields: Any) -> CitizenSession:
        return CitizenSession(
            id="s-1", citizen="rafael", trigger="webhook", prompt="p", status=status,
            created_at=now - timedelta(minutes=1), **fields,
        )  # fmt: skip

    def draft(status: str) -> Draft:
        return Draft(
            id="d-1", client="Ada", job_title="Engine", message="Any news?", draft_text="Hi",
            confidence=80, citizen="rafael", status=status,
            created_at=now - timedelta(minutes=2),
        )  # fmt: skip

    items = [
        ThreadWaiting(thread, None if s is None else session(s), None if d is None else draft(d))
        for s, d in itertools.product(
            (None, "queued", "running", "completed", "failed"),
            (None, "approved", "rejected", "superseded"),
        )
    ]
    held = session("queued", waiting_reason="daily budget")
    shown = [
        *(waiting.reminder(item, now)[0] for item in items),
        waiting.listing(items, now)[0],
        thread_notices.session_text(held, thread, "Any news?", drafted=False),
        notice_text(held),
    ]
    for state in (thread_notices.waiting_state(i.session, i.draft) for i in items):
        assert ":" not in state, state  # the reminder's line has its own ("No draft: …")
    for line in "\n".join(shown).splitlines():
        assert line.count(":") <= 1, line
    assert all("held back by the daily budget" in text for text in shown[-2:])
