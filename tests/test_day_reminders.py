"""The operator's day (CONTRACT §10): one reminder per waiting client, the daily digest once a
day, quiet hours — against the fake Bot API, with settings in seconds."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.day.clock import in_quiet_hours
from bot.day.digest import digest_text
from bot.day.loop import OperatorDay
from bot.settings import Settings
from citizens.figures import waited
from storage.models import (
    CitizenSession,
    Digest,
    Draft,
    DraftFeedback,
    Lead,
    OutboxMessage,
    Thread,
    ThreadMessage,
)
from storage.repo import stats
from storage.repo.inbox import Waiting
from storage.repo.thread_waits import ThreadWaiting
from tests.bot_api_rules import check_message_text
from tests.fake_telegram import FakeTelegram
from tests.telegram_support import FAST, Service, free_port, running_service
from tests.telegram_updates import OPERATOR_ID

TICKING = dataclasses.replace(FAST, day_tick_s=0.1)


def reminders(fake: FakeTelegram) -> list[dict[str, object]]:
    return [m for m in fake.sent_messages(OPERATOR_ID) if str(m["text"]).startswith("⏰")]


async def card_sent(service: Service, draft_id: str) -> int:
    async def recorded() -> int | None:
        return (await service.draft(draft_id)).telegram_message_id

    return int(await service.fake.wait_for(recorded, what="the card"))


async def test_a_waiting_client_gets_one_reminder_as_a_reply_to_the_card(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    settings = telegram_settings(port=free_port(), remind_after_s=1)
    async with running_service(settings, fake_telegram, tuning=TICKING) as service:
        waiting = (await service.post_draft(client="Waiting <Client>"))["draft_id"]
        decided = (await service.post_draft(client="Decided Client"))["draft_id"]
        card = await card_sent(service, waiting)
        await service.answered(await service.tap("approve", decided))

        [reminder] = await fake_telegram.wait_for(lambda: reminders(fake_telegram))
        await asyncio.sleep(10 * TICKING.day_tick_s)  # more ticks remind nobody again

        assert reminders(fake_telegram) == [reminder]
        assert reminder["reply_parameters"]["message_id"] == card  # type: ignore[index]
        assert "Waiting &lt;Client&gt;" in str(reminder["text"])
        assert "has waited" in str(reminder["text"])
        assert (await service.draft(waiting)).reminded_at is not None
        assert (await service.draft(decided)).reminded_at is None


async def test_two_instances_remind_and_digest_once(
    make_settings: Callable[..., Settings], db: async_sessionmaker[AsyncSession]
) -> None:
    settings = make_settings(
        telegram_chat_id=OPERATOR_ID, remind_after_s=60, digest_at="00:00", timezone="UTC"
    )
    long_ago = datetime.now(UTC) - timedelta(hours=2)
    async with db() as session, session.begin():
        for n in range(5):
            session.add(draft_row(f"Client {n}", created_at=long_ago, message_id=100 + n))
    days = [OperatorDay(settings, db, kick=lambda: None, tick_s=60) for _ in range(2)]

    for _ in range(3):
        await asyncio.gather(*(day.tick() for day in days))

    async with db() as session:
        replies = (
            await session.execute(
                select(OutboxMessage.text, OutboxMessage.reply_to_message_id).where(
                    OutboxMessage.reply_to_message_id.is_not(None)  # type: ignore[union-attr]
                )
            )
        ).all()
        digests = (await session.scalars(select(OutboxMessage.text))).all()
    # One reminder per client, each a reply to that client's own card.
    assert len(replies) == 5
    by_client = {re.findall(r"Client (\d)", text)[0]: card for text, card in replies}
    assert by_client == {str(n): 100 + n for n in range(5)}
    assert [text for text in digests if "Digest" in text] == [digests[-1]]
    assert sum("Digest" in text for text in digests) == 1


async def test_the_digest_tells_what_waits_and_how_yesterday_went(
    make_settings: Callable[..., Settings], db: async_sessionmaker[AsyncSession]
) -> None:
    """Yesterday's numbers are GET /api/stats's (storage/repo/stats.py), by its definitions."""
    settings = make_settings(telegram_chat_id=OPERATOR_ID, digest_at="08:00", timezone="UTC")
    now = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
    yesterday = now - timedelta(days=1)
    old_thread, answered_thread = str(uuid.uuid4()), str(uuid.uuid4())
    async with db() as session, session.begin():
        session.add(
            Thread(
                id=old_thread,
                platform="upwork",
                client="Old Client",
                created_at=now - timedelta(days=3),
                last_message_at=now - timedelta(days=3),
                waiting_since=now - timedelta(days=2, hours=1),
            )
        )
        # Answered at Y-2h30, then the client wrote at Y-2h and again at Y-1h: the approved
        # reply answered a wait that began at Y-2h (its oldest unanswered message).
        session.add(Thread(id=answered_thread, platform="upwork", client="Done Client"))
        await session.flush()
        for direction, before in (("in", 180), ("out", 150), ("in", 120), ("in", 60)):
            session.add(
                ThreadMessage(
                    thread_id=answered_thread,
                    direction=direction,
                    text="…",
                    at=yesterday - timedelta(minutes=before),
                )
            )
        session.add(
            draft_row("Old Client", created_at=now - timedelta(hours=1), thread=old_thread)
        )
        session.add(draft_row("Recent Client", created_at=now - timedelta(minutes=20)))
        answered = decided_row("approved", yesterday, created_at=yesterday - timedelta(minutes=30))
        answered.thread_id = answered_thread
        edited = decided_row("approved", yesterday, created_at=yesterday - timedelta(minutes=10))
        session.add_all([answered, edited, decided_row("rejected", yesterday)])
        session.add(decided_row("rejected", now))  # today: not yesterday's
        await session.flush()
        session.add(DraftFeedback(draft_id=edited.id, kind="edit", text="Hi!", old_text="Hey"))
        session.add(
            CitizenSession(
                id=str(uuid.uuid4()),
                citizen="rafael",
                trigger="webhook",
                prompt="p",
                status="completed",
                started_at=yesterday,
                cost_usd=0.42,
            )
        )
        for decision, sent in (("GO", True), ("GO", False), ("NO-GO", False)):
            session.add(
                Lead(
                    platform="upwork",
                    title="A job",
                    budget="$1k",
                    decision=decision,
                    reason="r",
                    sent=sent,
                    created_at=yesterday,
                    updated_at=yesterday,
                )
            )
    day = OperatorDay(settings, db, kick=lambda: None, tick_s=60, clock=lambda: now)

    assert not await day.send_digest(now.replace(hour=7, minute=59))  # before DIGEST_AT
    await day.tick()
    await day.tick()

    async with db() as session:
        [text] = (await session.scalars(select(OutboxMessage.text))).all()
        assert await session.scalar(select(Digest.day)) == "2026-03-10"
        api = await stats.compute(session=session, days=2, tz=settings.tz, now=now)
    waiting_lines = [line for line in text.splitlines() if line.startswith("•")]
    assert [line.split(" · ")[0] for line in waiting_lines] == ["• Old Client", "• Recent Client"]
    assert "2 d 1 h" in waiting_lines[0] and "20 min" in waiting_lines[1]
    assert "Drafts: 2 approved (1 edited), 1 rejected, 0 redrafted, 0 superseded, 0 sent" in text
    # The median of 2 h (from Y-2h) and 10 min: what the API says for that day.
    assert "client's message to the approved reply: 1 h 05 min" in text
    assert api["response_time_per_day"][0]["median_s"] == 65 * 60
    assert api["drafts_per_day"][0] | {"date": ""} == {
        "date": "",
        "approved": 2,
        "edited": 1,
        "rejected": 1,
        "redrafted": 0,
        "superseded": 0,
        "sent": 0,
    }
    assert "rafael: 1 session ($0.42)" in text
    assert "Leads: 2 GO, 1 NO-GO, 1 proposal sent" in text


def test_quiet_hours_wrap_past_midnight(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(quiet_hours="22:00-07:00", timezone="Europe/Paris")
    at = datetime(2026, 7, 1, tzinfo=UTC)  # Paris is UTC+2 in July
    assert in_quiet_hours(settings, at.replace(hour=20))  # 22:00 in Paris
    assert in_quiet_hours(settings, at.replace(hour=4, minute=59))
    assert not in_quiet_hours(settings, at.replace(hour=5))
    assert not in_quiet_hours(make_settings(), at)
    assert waited(at, at + timedelta(hours=1, minutes=5)) == "1 h 05 min"


async def test_inside_quiet_hours_messages_arrive_silently(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    now = datetime.now(UTC)
    around_now = f"{now - timedelta(hours=1):%H:%M}-{now + timedelta(hours=1):%H:%M}"
    later = f"{now + timedelta(hours=2):%H:%M}-{now + timedelta(hours=3):%H:%M}"
    for window, silent in ((around_now, True), (later, False)):
        settings = telegram_settings(port=free_port(), quiet_hours=window, timezone="UTC")
        async with running_service(settings, fake_telegram) as service:
            draft_id = (await service.post_draft())["draft_id"]
            await card_sent(service, draft_id)
        [card] = [m for m in fake_telegram.sent_messages() if draft_id in str(m["text"])]
        assert bool(card.get("disable_notification")) is silent, window


def decided_row(status: str, decided_at: datetime, *, created_at: datetime | None = None) -> Draft:
    draft = draft_row("Decided Client", created_at=created_at or decided_at - timedelta(hours=1))
    draft.status, draft.decided_at = status, decided_at
    return draft


def draft_row(
    client: str, *, created_at: datetime, message_id: int | None = None, thread: str | None = None
) -> Draft:
    return Draft(
        id=str(uuid.uuid4()),
        client=client,
        job_title="A job",
        message="Hello?",
        draft_text="Hi!",
        confidence=80,
        created_at=created_at,
        updated_at=created_at,
        telegram_message_id=message_id,
        thread_id=thread,
    )


async def test_a_digest_of_long_names_still_fits_one_telegram_message(
    db: async_sessionmaker[AsyncSession],
) -> None:
    """Ten waiting drafts and ten waiting threads whose clients and jobs are as long as the
    API allows: the digest's lines are cut, so Telegram takes it (≤ 4,096 characters)."""
    now = datetime.now(UTC)
    today = now.date()
    async with db() as session:
        numbers = await stats.of_day(
            session=session, day=today - timedelta(days=1), tz=ZoneInfo("UTC")
        )
    long_client, long_job = "Ł" * 200, "Shopify & <b>SSO</b> " * 25  # the API's caps
    drafts = [
        Waiting(
            Draft(
                id=str(uuid.uuid4()),
                client=long_client,
                job_title=long_job[:500],
                message="m",
                draft_text="d",
                confidence=80,
            ),
            now - timedelta(hours=n),
        )
        for n in range(12)
    ]
    threads = [
        ThreadWaiting(
            Thread(client=long_client, job_title=long_job[:500], waiting_since=now), None, None
        )
        for _ in range(12)
    ]

    text = digest_text(numbers, drafts, now, today, threads)

    check_message_text(text, "HTML")  # what the Bot API refuses with 400, the fake refuses
    assert "… and 2 more: /drafts" in text
