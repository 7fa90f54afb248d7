"""storage/loops.py: one helper runs every background loop, with one shutdown rule (ask, let
the current step finish within a grace, then cancel)."""

from __future__ import annotations

import ast
import asyncio
import time
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.settings import Settings
from bot.telegram.tuning import TelegramTuning
from storage.engine import create_engine, session_factory
from storage.loops import Loop, doubling
from tests.polling import wait_until

ROOT = Path(__file__).resolve().parent.parent
SLOW_STATEMENT = {
    # About a second of work inside one statement, so a cancel lands mid-statement.
    "sqlite": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
    "WHERE i < 3000000) SELECT count(*) FROM n",
    "postgresql": "SELECT pg_sleep(1)",
}


async def test_stopping_mid_transaction_lets_it_commit_and_leaves_the_database_unlocked(
    engine: AsyncEngine, settings: Settings
) -> None:
    db = session_factory(engine)
    async with db() as session, session.begin():
        await session.execute(text("CREATE TABLE ticks (n INTEGER)"))
    inside = asyncio.Event()

    async def step() -> float:
        async with db() as session, session.begin():  # SQLite: BEGIN IMMEDIATE, the write lock
            await session.execute(text("INSERT INTO ticks VALUES (1)"))
            inside.set()
            await session.execute(text(SLOW_STATEMENT[engine.dialect.name]))
        return 60

    loop = Loop("test", step, every=60, grace_s=20)
    loop.start()
    await asyncio.wait_for(inside.wait(), timeout=10)
    await loop.stop()  # while the step holds the write lock, mid-statement

    # Another process's engine writes at once: nothing holds the lock any more.
    other = create_engine(settings.database_url)
    try:
        async with session_factory(other)() as session, session.begin():
            if other.dialect.name == "sqlite":
                await session.execute(text("PRAGMA busy_timeout = 1000"))
            else:
                await session.execute(text("SET LOCAL lock_timeout = '1s'"))
            await session.execute(text("INSERT INTO ticks VALUES (2)"))
        async with session_factory(other)() as session:
            rows = (await session.scalars(text("SELECT n FROM ticks ORDER BY n"))).all()
    finally:
        await other.dispose()
    assert rows == [1, 2]  # the step that was running when stop() came finished and committed
    assert loop.steps == 1


async def test_a_step_that_outlasts_the_grace_is_cancelled_after_it() -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def stuck() -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    loop = Loop("stuck", stuck, every=60, grace_s=0.3)
    loop.start()
    await asyncio.wait_for(started.wait(), timeout=5)
    began = time.monotonic()
    await asyncio.wait_for(loop.stop(), timeout=5)
    assert cancelled.is_set() and not loop.running
    assert 0.3 <= time.monotonic() - began < 3


async def test_a_kick_runs_the_next_step_at_once_and_a_failure_is_retried_after_the_backoff() -> (
    None
):
    calls: list[float] = []

    async def step() -> float | None:
        calls.append(time.monotonic())
        if len(calls) == 2:
            raise RuntimeError("the database is down")
        return None

    loop = Loop("kicked", step, every=3600, backoff=lambda failures: 0.05 * failures)
    loop.start()
    try:
        await wait_until(lambda: len(calls) == 1, "the first step")
        loop.kick()  # without it the next step would come in an hour
        await wait_until(
            lambda: len(calls) == 3, "the third step"
        )  # the second failed; the third came 0.05s on
        assert loop.steps == 2
    finally:
        await loop.stop()
    assert not loop.running


def _hand_written_loops(path: Path) -> list[int]:
    """Lines of `while` loops that sleep or wait between rounds: a background loop."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.While):
            continue
        for inner in ast.walk(node):
            if (
                isinstance(inner, ast.Attribute)
                and isinstance(inner.value, ast.Name)
                and inner.value.id == "asyncio"
                and inner.attr in ("sleep", "wait_for", "wait")
            ):
                found.append(node.lineno)
                break
    return found


def test_every_background_loop_runs_on_the_helper() -> None:
    """The sender, deliveries, schedules, reminders and digest, retention: each is a Loop."""
    pending: set[str] = set()
    loops = {
        str(path.relative_to(ROOT)): lines
        for package in ("bot", "web", "citizens", "storage")
        for path in (ROOT / package).rglob("*.py")
        if (lines := _hand_written_loops(path)) and path.name != "loops.py"
    }
    assert set(loops) - pending == set()


def test_the_backoff_stays_at_its_most_however_long_an_outage_lasts() -> None:
    """A loop failing every 5 s for days must keep retrying, never overflow and end."""
    backoff = doubling(0.2, 5.0)
    assert [backoff(n) for n in (1, 2, 3, 6)] == [0.2, 0.4, 0.8, 5.0]
    assert backoff(1025) == backoff(100_000) == 5.0
    assert TelegramTuning().backoff_s(100_000) == TelegramTuning().retry_max_s
