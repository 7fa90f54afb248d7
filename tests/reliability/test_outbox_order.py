"""The outbox keeps each chat's messages in the order they were queued, on both backends.

A claim starts at a chat's oldest pending message (its head), alone or with the run queued
behind it, never behind a head that is held or waits; the head's retry delay holds back the
chat; other chats are not held back; concurrent workers that send what they claim still hand
Telegram each chat's messages in order.
"""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage.hotpath import HotPath
from storage.repo import outbox
from storage.types import utcnow

pytestmark = pytest.mark.reliability

LEASE = timedelta(seconds=30)


async def _queue(db: async_sessionmaker[AsyncSession], *chats: int) -> list[int]:
    async with db() as session, session.begin():
        return [await outbox.enqueue(session=session, chat_id=chat, text="m") for chat in chats]


async def _claim(
    db: async_sessionmaker[AsyncSession], worker: str = "w", run: int = 1
) -> list[int]:
    async with db() as session, session.begin():
        rows = await outbox.claim(session=session, worker=worker, lease=LEASE, limit=10, run=run)
    return [row.id or 0 for row in rows]


async def _sent(engine: AsyncEngine, *outbox_ids: int) -> None:
    await outbox.mark_sent(
        hot=HotPath(engine), sent=[outbox.Sent(outbox_id, 1) for outbox_id in outbox_ids]
    )


async def test_only_the_oldest_pending_message_of_a_chat_can_be_claimed(
    db: async_sessionmaker[AsyncSession], engine: AsyncEngine
) -> None:
    first, second, third, other = await _queue(db, 1, 1, 1, 2)
    assert await _claim(db) == [first, other]
    # The head is in flight: its chat waits.
    assert await _claim(db) == []
    await _sent(engine, first)
    assert await _claim(db) == [second]
    async with db() as session, session.begin():
        # A message Telegram refuses for good stops holding back its chat.
        await outbox.mark_failed(session=session, outbox_id=second, error="chat not found")
    assert await _claim(db) == [third]


async def test_a_claim_takes_a_run_from_the_head_and_never_starts_behind_a_held_head(
    db: async_sessionmaker[AsyncSession], engine: AsyncEngine
) -> None:
    first, second, other, third, fourth = await _queue(db, 1, 1, 2, 1, 1)
    assert await _claim(db, run=3) == [first, second, other, third]
    assert await _claim(db, worker="w2", run=3) == []
    await _sent(engine, first, other)
    # The run's rest is handed back, but its head (`second`) is still held: the chat waits.
    async with db() as session, session.begin():
        await outbox.release_claims(session=session, worker="w", ids=[third])
    assert await _claim(db, worker="w2", run=3) == []
    async with db() as session, session.begin():
        await outbox.release_claims(session=session, worker="w")
    assert await _claim(db, worker="w2", run=3) == [second, third, fourth]


async def test_a_run_ends_before_a_message_that_waits_out_a_retry(
    db: async_sessionmaker[AsyncSession], engine: AsyncEngine
) -> None:
    # A message can sit behind a head with a retry pending when an older one commits late.
    first, waiting, _ = await _queue(db, 1, 1, 1)
    async with db() as session, session.begin():
        await outbox.reschedule(
            session=session,
            outbox_id=waiting,
            next_attempt_at=utcnow() + timedelta(minutes=5),
            error="HTTP 500",
        )
    assert await _claim(db, run=3) == [first]
    await _sent(engine, first)
    assert await _claim(db, run=3) == []  # `waiting` is the head now, and not due


async def test_the_heads_backoff_holds_back_its_chat_and_sets_the_next_due_time(
    db: async_sessionmaker[AsyncSession], engine: AsyncEngine
) -> None:
    head, _, other = await _queue(db, 1, 1, 2)
    assert await _claim(db) == [head, other]
    later = utcnow() + timedelta(minutes=5)
    async with db() as session, session.begin():
        await outbox.reschedule(
            session=session, outbox_id=head, next_attempt_at=later, error="HTTP 500"
        )
    await _sent(engine, other)
    # The follower is due, yet waits for its head: the sender must not spin on it.
    assert await _claim(db, run=2) == []
    async with db() as session:
        due = await outbox.next_due_at(session=session)
    assert due is not None and abs(due - later) < timedelta(milliseconds=1)


@pytest.mark.parametrize("run", [1, 4])
async def test_concurrent_workers_send_each_chats_messages_in_order(
    db: async_sessionmaker[AsyncSession], engine: AsyncEngine, run: int
) -> None:
    chats = [1, 2, 3]
    queued = await _queue(db, *(chats[n % 3] for n in range(36)))
    chat_of = {outbox_id: chats[n % 3] for n, outbox_id in enumerate(queued)}
    sent: list[int] = []
    jitter = random.Random(5)

    async def work(worker: str) -> None:
        idle = 0
        while idle < 5:
            async with db() as session, session.begin():
                rows = await outbox.claim(
                    session=session, worker=worker, lease=LEASE, limit=1, run=run
                )
            if not rows:
                idle += 1
                await asyncio.sleep(0.01)
                continue
            idle = 0
            for row in rows:  # one chat's run, in queue order
                await asyncio.sleep(jitter.uniform(0, 0.02))  # sends take their time
                sent.append(row.id or 0)  # Telegram has it from here on
                await _sent(engine, row.id or 0)

    await asyncio.gather(*(work(f"w{n}") for n in range(4)))
    assert sorted(sent) == queued  # each once
    for chat in chats:
        in_chat = [outbox_id for outbox_id in sent if chat_of[outbox_id] == chat]
        assert in_chat == sorted(in_chat)
