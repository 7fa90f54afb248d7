"""The scheduler: each due time queues one session and writes one `schedule.fired@1.0`, however
many schedulers share the database; a time missed while down fires at start only if it is less
than an hour old. The clock is injected, so nothing waits."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.settings import Settings
from citizens import schedules as adding
from citizens.scheduler import Scheduler
from storage.engine import create_engine, session_factory
from storage.migrate import upgrade_to_head
from storage.models import CitizenSession, Event, Schedule
from tests.polling import wait_until

pytestmark = pytest.mark.usefixtures("citizens_home")

MONDAY_0755 = datetime(2026, 11, 30, 7, 55, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def add_schedule(
    db: async_sessionmaker[AsyncSession], settings: Settings, cron: str, now: datetime
) -> Schedule:
    async with db() as session, session.begin():
        return await adding.add(
            session=session,
            settings=settings,
            citizen="emma",
            expression=cron,
            message="Scan the new leads",
            now=now,
        )


async def fired(db: async_sessionmaker[AsyncSession]) -> list[Event]:
    async with db() as session:
        query = select(Event).where(Event.event == "schedule.fired@1.0").order_by(Event.id)
        return list((await session.scalars(query)).all())


async def sessions(db: async_sessionmaker[AsyncSession]) -> list[CitizenSession]:
    async with db() as session:
        return list((await session.scalars(select(CitizenSession))).all())


async def schedule_row(db: async_sessionmaker[AsyncSession], schedule_id: int) -> Schedule:
    async with db() as session:
        row = await session.get(Schedule, schedule_id)
    assert row is not None
    return row


async def test_two_schedulers_on_one_database_fire_each_time_once(
    db: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    clock = Clock(MONDAY_0755)
    schedule = await add_schedule(db, settings, "0 8 * * 1-5", clock.now)
    assert schedule.next_run_at == datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    woken: list[str] = []
    first, second = (
        Scheduler(settings, db, now=clock, wake=lambda n=name: woken.append(n))
        for name in ("a", "b")
    )

    assert await first.tick() == [] and await second.tick() == []  # not yet
    clock.now = datetime(2026, 11, 30, 8, 0, 5, tzinfo=UTC)
    for _ in range(3):
        await asyncio.gather(first.tick(), second.tick())

    [event] = await fired(db)
    [session] = await sessions(db)
    assert event.payload == {
        "schedule_id": schedule.id,
        "citizen": "emma",
        "cron": "0 8 * * 1-5",
        "scheduled_for": "2026-11-30T08:00:00Z",
        "session_id": session.id,
    }
    assert (session.citizen, session.trigger, session.status) == ("emma", "schedule", "queued")
    assert "Scan the new leads" in session.prompt
    assert len(woken) == 1
    row = await schedule_row(db, schedule.id or 0)
    assert row.next_run_at == datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    assert row.last_fired_at == clock.now and row.last_session_id == session.id

    clock.now = datetime(2026, 12, 1, 8, 0, 1, tzinfo=UTC)  # the next weekday's time
    await asyncio.gather(first.tick(), second.tick())
    assert len(await fired(db)) == 2 and len(await sessions(db)) == 2


async def test_a_time_missed_less_than_an_hour_ago_fires_once_at_start(
    db: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    clock = Clock(MONDAY_0755)
    schedule = await add_schedule(db, settings, "0 8 * * *", clock.now)
    # The service was down at 08:00 and starts again at 08:50.
    clock.now = datetime(2026, 11, 30, 8, 50, tzinfo=UTC)
    scheduler = Scheduler(settings, db, now=clock, poll_s=0.05)
    scheduler.start()
    try:
        events = await wait_until(lambda: fired(db), "the scheduler to fire")
        await asyncio.sleep(0.2)  # several more polls: still once
    finally:
        await scheduler.stop()
    assert [e.payload["scheduled_for"] for e in await fired(db)] == ["2026-11-30T08:00:00Z"]
    assert len(events) == 1 and len(await sessions(db)) == 1
    row = await schedule_row(db, schedule.id or 0)
    assert row.next_run_at == datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


async def test_a_time_missed_over_an_hour_ago_is_skipped_to_the_next(
    db: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    clock = Clock(MONDAY_0755)
    schedule = await add_schedule(db, settings, "0 8 * * *", clock.now)
    clock.now = datetime(2026, 11, 30, 9, 0, 1, tzinfo=UTC)  # 08:00 is over an hour old
    scheduler = Scheduler(settings, db, now=clock)
    assert await scheduler.tick() == []
    assert await fired(db) == [] and await sessions(db) == []
    row = await schedule_row(db, schedule.id or 0)
    assert row.next_run_at == datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    assert row.last_fired_at is None


async def test_of_many_missed_times_only_the_latest_within_the_hour_fires(
    db: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    clock = Clock(MONDAY_0755)
    await add_schedule(db, settings, "*/20 * * * *", clock.now)  # 08:00, 08:20, …
    clock.now = datetime(2026, 11, 30, 11, 50, tzinfo=UTC)  # down for almost four hours
    assert len(await Scheduler(settings, db, now=clock).tick()) == 1
    [event] = await fired(db)
    assert event.payload["scheduled_for"] == "2026-11-30T11:40:00Z"


async def test_cron_times_follow_timezone_across_a_dst_change(
    db: async_sessionmaker[AsyncSession], make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(timezone="Europe/Paris")
    clock = Clock(datetime(2026, 3, 28, 12, 0, tzinfo=UTC))  # Saturday; DST starts Sunday
    schedule = await add_schedule(db, settings, "0 8 * * *", clock.now)
    assert schedule.next_run_at == datetime(2026, 3, 29, 6, 0, tzinfo=UTC)  # 08:00 CEST
    clock.now = datetime(2026, 3, 29, 6, 0, 1, tzinfo=UTC)
    await Scheduler(settings, db, now=clock).tick()
    row = await schedule_row(db, schedule.id or 0)
    assert row.next_run_at == datetime(2026, 3, 30, 6, 0, tzinfo=UTC)
    assert len(await fired(db)) == 1


async def test_the_service_starts_the_scheduler_and_a_recent_missed_time_fires(
    telegram_settings: Callable[..., Settings], fake_telegram: Any
) -> None:
    from storage.types import utcnow
    from tests.telegram_support import free_port, running_service

    settings = telegram_settings(port=free_port(), claude_bin="false")
    engine = create_engine(settings.database_url)
    await upgrade_to_head(engine)
    db = session_factory(engine)
    try:
        # Written while the service was down: its time passed ten minutes ago.
        async with db() as session, session.begin():
            session.add(
                Schedule(
                    citizen="emma",
                    cron="* * * * *",
                    message="Scan the new leads",
                    created_at=utcnow() - timedelta(hours=2),
                    next_run_at=utcnow() - timedelta(minutes=10),
                )
            )
        async with running_service(settings, fake_telegram):
            events = await wait_until(lambda: fired(db), "the scheduler to fire")
        assert len(events) == 1
        assert [s.trigger for s in await sessions(db)] == ["schedule"]
    finally:
        await engine.dispose()
