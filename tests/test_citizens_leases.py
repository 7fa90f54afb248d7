"""Leases, concurrency and draining of the session runner, on both databases (CONTRACT §13);
the same across processes is in tests/reliability/test_workers.py."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlmodel import col

from bot.settings import Settings
from storage.models import CitizenSession, Worker
from storage.repo import citizen_queue
from storage.types import utcnow
from tests.citizens_support import (
    FakeClaude,
    enqueue_session,
    process_alive,
    session_events,
    session_row,
    wait_finished,
    wait_status,
)
from tests.polling import wait_until
from web.app import create_app

pytestmark = pytest.mark.usefixtures("citizens_home")

Db = async_sessionmaker[AsyncSession]


@pytest.fixture
def runner_settings(make_settings: Callable[..., Settings], fake_claude: FakeClaude) -> Settings:
    return make_settings(claude_bin=str(fake_claude.bin), citizen_timeout_s=30)


async def test_no_more_than_worker_concurrency_sessions_run_at_once(
    db: Db, make_settings: Callable[..., Settings], fake_claude: FakeClaude, start_runner: Any
) -> None:
    settings = make_settings(claude_bin=str(fake_claude.bin), worker_concurrency=1)
    first = await enqueue_session(db, "rafael", "FAKE:sleep=0.5")
    second = await enqueue_session(db, "emma", "Another citizen, free to run")
    await start_runner(settings)  # both are waiting when it first looks
    one, two = await wait_finished(db, first), await wait_finished(db, second)
    assert one.status == two.status == "completed"
    assert one.finished_at is not None and two.started_at is not None
    assert two.started_at >= one.finished_at  # emma waited for the one slot


async def test_a_drain_lets_a_running_session_finish_and_claims_nothing_new(
    db: Db, runner_settings: Settings, fake_claude: FakeClaude, start_runner: Any, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    runner = await start_runner(runner_settings)
    running = await enqueue_session(db, "rafael", f"FAKE:wait-for={release}")
    await wait_until(fake_claude.calls, "the CLI to start")

    stopping = asyncio.create_task(runner.stop(drain_s=30))
    waiting = await enqueue_session(db, "emma", "queued while draining")
    runner.wake()
    release.touch()
    await stopping

    assert (await session_row(db, running)).status == "completed"
    assert (await session_row(db, waiting)).status == "queued"
    assert len(fake_claude.calls()) == 1


async def test_a_drain_past_its_deadline_kills_and_fails_the_session(
    db: Db, runner_settings: Settings, fake_claude: FakeClaude, start_runner: Any
) -> None:
    runner = await start_runner(runner_settings, worker=True)
    stuck = await enqueue_session(db, "daniel", "FAKE:child\nFAKE:sleep=60")
    await wait_until(fake_claude.calls, "the CLI to start")

    await runner.stop(drain_s=0.3)

    row = await session_row(db, stuck)
    assert (row.status, row.error) == ("failed", "worker stopped")
    [call] = fake_claude.calls()
    assert not process_alive(call["pid"]) and not process_alive(call["child_pid"])


async def test_a_session_whose_lease_was_taken_stops_its_cli(
    db: Db, make_settings: Callable[..., Settings], fake_claude: FakeClaude, start_runner: Any
) -> None:
    # Its own time limit is far beyond the wait below: only the lost lease can stop it.
    settings = make_settings(claude_bin=str(fake_claude.bin), citizen_timeout_s=600)
    await start_runner(settings, heartbeat_interval_s=0.1)
    session_id = await enqueue_session(db, "rafael", "FAKE:child\nFAKE:sleep=60")
    await wait_until(fake_claude.calls, "the CLI to start")
    # Another process judged it lost and failed it (its lease had lapsed meanwhile).
    async with db() as session, session.begin():
        await citizen_queue.finish(
            session=session, session_id=session_id, status="failed", error="worker lost"
        )

    [call] = fake_claude.calls()
    await wait_until(
        lambda: not process_alive(call["pid"]) and not process_alive(call["child_pid"]),
        "the CLI to be stopped",
    )
    row = await session_row(db, session_id)
    assert (row.status, row.error) == ("failed", "worker lost")  # failed once, not rewritten


async def test_a_lapsed_lease_is_failed_as_worker_lost_once(
    db: Db, runner_settings: Settings, start_runner: Any
) -> None:
    lapsed = await enqueue_session(db, "emma", "its worker's machine was lost")
    async with db() as session, session.begin():
        await citizen_queue.claim_next(session=session, citizen="emma", claimed_by="gone:1:x")
    # Two processes see it: only one failure is recorded.
    await start_runner(runner_settings, heartbeat_interval_s=0.1, stale_after_s=0.5)
    await start_runner(runner_settings, heartbeat_interval_s=0.1, stale_after_s=0.5)
    row = await wait_status(db, lapsed, "failed")
    assert row.error == "worker lost"
    failures = [name for name, _ in await session_events(db, lapsed) if "failed" in name]
    assert len(failures) == 1


async def test_health_counts_live_workers_and_queued_sessions(
    aiohttp_client: Any,
    db: Db,
    engine: AsyncEngine,
    runner_settings: Settings,
    start_runner: Any,
) -> None:
    client: TestClient = await aiohttp_client(create_app(runner_settings, engine))
    await start_runner(runner_settings, claims=False)  # a web process: not a worker
    for n in range(3):
        await enqueue_session(db, "rafael", f"FAKE:sleep=30 {n}")
    body = await (await client.get("/health")).json()
    assert (body["workers"], body["sessions_queued"]) == (0, 3)

    await start_runner(runner_settings)  # a worker: it takes one (one per citizen)
    await wait_until(
        lambda: _health_is(client, workers=1, sessions_queued=2), "one worker, two queued"
    )
    # A worker not seen for SESSION_LEASE_S is not counted.
    async with db() as session, session.begin():
        await session.execute(update(Worker).values(heartbeat_at=utcnow() - timedelta(seconds=61)))
        await session.execute(
            update(CitizenSession)
            .where(col(CitizenSession.status) == "queued")
            .values(status="failed")
        )
    body = await (await client.get("/health")).json()
    assert (body["workers"], body["sessions_queued"]) == (0, 0)


async def _health_is(client: TestClient, **expected: int) -> bool:
    body = await (await client.get("/health")).json()
    return all(body[key] == value for key, value in expected.items())
