"""storage/loops.py: one helper runs every background loop as a claim plus a handler, with one
shutdown rule (ask, let the current claim or handler finish within a grace, then cancel); and
`Components` stops a process's components in the reverse of their start."""

from __future__ import annotations

import ast
import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.settings import Settings
from bot.telegram.tuning import TelegramTuning
from storage.engine import create_engine, session_factory
from storage.loops import Components, Loop, doubling
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
    due = [[1]]

    async def claim() -> list[int] | None:
        return due.pop() if due else None

    async def handle(batch: list[int]) -> None:
        async with db() as session, session.begin():  # SQLite: BEGIN IMMEDIATE, the write lock
            await session.execute(text("INSERT INTO ticks VALUES (:n)"), {"n": batch[0]})
            inside.set()
            await session.execute(text(SLOW_STATEMENT[engine.dialect.name]))

    loop = Loop("test", claim=claim, handle=handle, every=60, grace_s=20)
    loop.start()
    await asyncio.wait_for(inside.wait(), timeout=10)
    await loop.stop()  # while the handler holds the write lock, mid-statement

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
    assert rows == [1, 2]  # the handler that was running when stop() came finished and committed
    assert loop.steps == 1


async def test_a_handler_that_outlasts_the_grace_is_cancelled_after_it() -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def claim() -> str:
        return "work"

    async def stuck(_batch: str) -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    loop = Loop("stuck", claim=claim, handle=stuck, every=60, grace_s=0.3)
    loop.start()
    await asyncio.wait_for(started.wait(), timeout=5)
    began = time.monotonic()
    await asyncio.wait_for(loop.stop(), timeout=5)
    assert cancelled.is_set() and not loop.running
    assert 0.3 <= time.monotonic() - began < 3


async def test_batches_are_handled_one_after_another_then_it_sleeps_until_a_kick() -> None:
    queue: list[list[str]] = [["a", "b"], ["c"], ["d"]]
    handled: list[list[str]] = []
    idled = 0

    async def claim() -> list[str]:
        return queue.pop(0) if queue else []

    async def handle(batch: list[str]) -> None:
        handled.append(batch)

    async def idle() -> float:
        nonlocal idled
        idled += 1
        return 3600

    loop = Loop("batches", claim=claim, handle=handle, every=60, idle=idle)
    async with loop:
        # Claimed again at once while batches come: no sleep between them.
        await wait_until(lambda: idled == 1, "the batches, then an empty claim", timeout=1)
        assert handled == [["a", "b"], ["c"], ["d"]]
        queue.append(["e"])
        await asyncio.sleep(0.2)
        assert handled[-1] == ["d"]  # asleep: idle() asked for an hour
        loop.kick()
        await wait_until(lambda: idled == 2, "the kicked claim")
        assert handled[-1] == ["e"]
    assert not loop.running
    assert loop.steps == 6  # claims: three batches, nothing, a batch, nothing


async def test_a_failing_claim_is_retried_after_the_backoff_and_a_success_resets_it() -> None:
    calls: list[float] = []
    failing = {2, 3, 5}

    async def claim() -> None:
        calls.append(time.monotonic())
        if len(calls) in failing:
            raise RuntimeError("the database is down")

    async def handle(_batch: object) -> None:
        raise AssertionError("nothing was claimed")

    waits: list[int] = []

    def backoff(failures: int) -> float:
        waits.append(failures)
        return 0.1 * failures

    errors: list[Exception] = []
    loop = Loop(
        "backing-off",
        claim=claim,
        handle=handle,
        every=3600,
        backoff=backoff,
        on_error=errors.append,
    )
    async with loop:
        await wait_until(lambda: len(calls) == 1, "the first claim")
        loop.kick()  # without it the next claim would come in an hour
        await wait_until(lambda: len(calls) == 4, "two failures, then a success")
        loop.kick()
        await wait_until(lambda: len(calls) == 6, "a failure, then a success")
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    assert gaps[1] >= 0.1 and gaps[2] >= 0.2  # the second failure in a row waits longer
    assert gaps[4] >= 0.1  # counted from one again after the success
    assert waits == [1, 2, 1] and len(errors) == 3
    assert loop.steps == 3


async def test_components_stop_in_reverse_and_one_that_failed_to_start_is_not_stopped() -> None:
    events: list[str] = []

    @contextlib.asynccontextmanager
    async def component(name: str, fails: bool = False) -> AsyncIterator[str]:
        if fails:
            raise RuntimeError(f"{name} cannot start")
        events.append(f"start {name}")
        try:
            yield name
        finally:
            events.append(f"stop {name}")

    async with Components() as components:
        assert await components.start("first", component("first")) == "first"
        await components.start("second", component("second"))
    with pytest.raises(RuntimeError, match="third cannot start"):
        async with Components() as components:
            await components.start("third", component("third", fails=True))
    assert events == ["start first", "start second", "stop second", "stop first"]


def _hand_written_loops(path: Path) -> list[int]:
    """Lines of `while` loops that sleep or wait between rounds: a background loop. Waiting
    for a task to end (`asyncio.wait` without a timeout) is no sleep between rounds."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.While):
            continue
        if any(_sleeps(inner) for inner in ast.walk(node)):
            found.append(node.lineno)
    return found


def _sleeps(node: ast.AST) -> bool:
    """A call of asyncio.sleep or asyncio.wait_for, or of asyncio.wait with a timeout."""
    if not (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "asyncio"
    ):
        return False
    if node.func.attr == "wait":
        return len(node.args) > 1 or any(kw.arg == "timeout" for kw in node.keywords)
    return node.func.attr in ("sleep", "wait_for")


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
