"""The citizens' daily budget (CONTRACT §7): once today's sessions cost CITIZENS_DAILY_BUDGET_USD,
sessions wait (told once a day, with a button each), start the next day or when the operator
taps `budget_run:<id>`; each session's cost shows on its notice."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.settings import Settings
from citizens.runner import SessionRunner
from storage.models import CitizenSession, Event, OutboxMessage
from storage.repo import citizen_queue, session_budget
from tests.citizens_support import (
    FakeClaude,
    enqueue_session,
    outbox_texts,
    session_row,
    wait_finished,
    wait_status,
)
from tests.polling import wait_until
from tests.telegram_support import free_port, running_service
from tests.telegram_updates import OPERATOR_ID, STRANGER_ID

pytestmark = pytest.mark.usefixtures("citizens_home")

Db = async_sessionmaker[AsyncSession]
OPERATOR_CHAT = 4242


@pytest.fixture
def budget_settings(make_settings: Callable[..., Settings], fake_claude: FakeClaude) -> Settings:
    return make_settings(
        claude_bin=str(fake_claude.bin), citizen_timeout_s=30, citizens_daily_budget_usd=0.05
    )


async def spend(db: Db, cost: float = 0.06) -> CitizenSession:
    """A session that costs `cost`: today's budget is spent."""
    return await wait_finished(db, await enqueue_session(db, "daniel", f"FAKE:cost={cost}"))


async def queue_together(db: Db, *citizens: str) -> list[str]:
    async with db() as session, session.begin():
        rows = [
            await citizen_queue.enqueue(session=session, citizen=c, trigger="test", prompt="Go.")
            for c in citizens
        ]
    return [row.id for row in rows]


async def wait_held(db: Db, session_id: str) -> CitizenSession:
    async def held() -> CitizenSession | None:
        row = await session_row(db, session_id)
        return row if row.waiting_reason == "daily budget" else None

    row = await wait_until(held, f"session {session_id} to wait for the budget")
    assert row.status == "queued" and row.started_at is None
    return row  # type: ignore[no-any-return]


async def exceeded_events(db: Db) -> list[dict[str, Any]]:
    async with db() as session:
        rows = await session.scalars(select(Event).where(Event.event == "budget.exceeded@1.0"))
        return [row.payload for row in rows]


async def budget_notices(db: Db) -> list[OutboxMessage]:
    async with db() as session:
        rows = await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))  # type: ignore[arg-type]
        return [row for row in rows if row.text.startswith("💸")]  # not the session notices


async def test_past_the_budget_sessions_wait_and_the_operator_is_told_once(
    db: Db, budget_settings: Settings, fake_claude: FakeClaude, start_runner: Any
) -> None:
    await start_runner(budget_settings, chat_id=OPERATOR_CHAT)
    await spend(db)
    held = await queue_together(db, "rafael", "emma")
    for session_id in held:
        await wait_held(db, session_id)
    later = await enqueue_session(db, "rafael", "Later.")
    await wait_held(db, later)

    assert len(fake_claude.calls()) == 1
    [event] = await exceeded_events(db)
    assert (event["spent_usd"], event["budget_usd"]) == (0.06, 0.05)
    [notice] = await budget_notices(db)
    assert notice.chat_id == OPERATOR_CHAT
    assert "$0.06" in notice.text and "$0.05" in notice.text
    buttons = [b["callback_data"] for row in notice.reply_markup["inline_keyboard"] for b in row]  # type: ignore[index]
    assert buttons == [f"budget_run:{session_id}" for session_id in held]


async def test_run_anyway_starts_one_held_session(
    db: Db, budget_settings: Settings, fake_claude: FakeClaude, start_runner: Any
) -> None:
    runner: SessionRunner = await start_runner(budget_settings)
    await spend(db)
    first, second = await queue_together(db, "rafael", "rafael")
    await wait_held(db, first)

    async with db() as session, session.begin():
        assert await session_budget.run_anyway(session=session, session_id=second)
    runner.wake()

    ran = await wait_finished(db, second)
    assert ran.status == "completed" and ran.waiting_reason is None
    assert (await wait_held(db, first)).status == "queued"
    async with db() as session, session.begin():  # a started session cannot be let through
        assert await session_budget.run_anyway(session=session, session_id=second) is None


async def test_waiting_sessions_start_the_next_day(
    db: Db, budget_settings: Settings, start_runner: Any, tmp_path: Path
) -> None:
    runner: SessionRunner = await start_runner(budget_settings)
    costly = await spend(db)
    gate = tmp_path / "gate"
    async with db() as session, session.begin():
        held, behind = [
            (
                await citizen_queue.enqueue(
                    session=session, citizen="rafael", trigger="test", prompt=prompt
                )
            ).id
            for prompt in (f"FAKE:wait-for={gate}", "Behind it.")
        ]
    await wait_held(db, held)
    await wait_held(db, behind)

    # The costly session becomes yesterday's: today nothing has been spent.
    async with db() as session, session.begin():
        yesterday = costly.started_at - timedelta(days=1)  # type: ignore[operator]
        await session.execute(
            update(CitizenSession)
            .where(CitizenSession.id == costly.id)  # type: ignore[arg-type]
            .values(started_at=yesterday)
        )
    runner.wake()

    running = await wait_status(db, held, "running")
    assert running.waiting_reason is None
    # Still queued behind it, but no longer waiting for the budget.
    assert (await session_row(db, behind)).waiting_reason is None
    gate.touch()
    for session_id in (held, behind):
        row = await wait_finished(db, session_id)
        assert row.status == "completed" and row.waiting_reason is None


async def test_without_a_daily_budget_nothing_waits(
    db: Db, make_settings: Callable[..., Settings], fake_claude: FakeClaude, start_runner: Any
) -> None:
    await start_runner(make_settings(claude_bin=str(fake_claude.bin)))
    await spend(db, cost=100.0)
    [after] = await queue_together(db, "rafael")
    assert (await wait_finished(db, after)).status == "completed"
    assert await exceeded_events(db) == []


async def test_each_session_notice_shows_its_cost(
    db: Db, budget_settings: Settings, start_runner: Any
) -> None:
    await start_runner(budget_settings, chat_id=OPERATOR_CHAT)
    await spend(db, cost=0.0123)
    ended = [text for _, text in await outbox_texts(db) if "completed" in text]
    assert len(ended) == 1 and "$0.0123" in ended[0]


def test_today_is_the_operators_day() -> None:
    new_york = ZoneInfo("America/New_York")
    late_evening = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)  # 22:00 on Nov 30 in New York
    assert session_budget.start_of_today(new_york, late_evening) == datetime(
        2026, 11, 30, 5, 0, tzinfo=UTC
    )
    assert session_budget.start_of_today(ZoneInfo("UTC"), late_evening) == datetime(
        2026, 12, 1, tzinfo=UTC
    )


async def test_the_operator_taps_budget_run_and_a_stranger_cannot(
    telegram_settings: Callable[..., Settings], fake_telegram: Any, fake_claude: FakeClaude
) -> None:
    settings = telegram_settings(
        port=free_port(),
        claude_bin=str(fake_claude.bin),
        citizen_timeout_s=30,
        citizens_daily_budget_usd=0.05,
    )
    async with running_service(settings, fake_telegram) as service:
        await spend(service.db)
        [held] = await queue_together(service.db, "rafael")

        def notice() -> dict[str, Any] | None:
            return next(
                (
                    m
                    for m in fake_telegram.sent_messages(OPERATOR_ID)
                    if m["text"].startswith("💸")
                ),
                None,
            )

        message = await fake_telegram.wait_for(notice, timeout=30, what="the budget notice")
        [[button]] = message["reply_markup"]["inline_keyboard"]
        assert button["callback_data"] == f"budget_run:{held}"

        await service.answered(service.tap_message(button["callback_data"], user_id=STRANGER_ID))
        assert (await session_row(service.db, held)).run_anyway is False

        answer = await service.answered(service.tap_message(button["callback_data"]))
        assert "Starting rafael" in answer["text"]
        assert (await wait_finished(service.db, held)).status == "completed"
        await fake_telegram.wait_for(
            lambda: any("session completed" in t for t in sent_texts(fake_telegram)),
            timeout=30,
            what="the end notice",
        )


def sent_texts(fake: Any) -> list[str]:
    """The operator chat's messages as they read now (a session notice is edited in place)."""
    return [m["text"] for (chat, _), m in fake.messages.items() if chat == OPERATOR_ID]
