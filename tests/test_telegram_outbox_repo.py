"""The outbox repository: enqueue in the caller's transaction, claim with a lease, record."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage.hotpath import HotPath
from storage.models import Draft, DraftMessage, OutboxMessage
from storage.repo import draft_intake, drafts, outbox
from storage.types import utcnow

LEASE = timedelta(seconds=30)


async def _draft(db: async_sessionmaker[AsyncSession]) -> str:
    draft = drafts.new(
        client="Acme",
        job_title="Build a bot",
        message="Hi",
        draft_text="Hello",
        confidence=80,
        context={},
    )
    async with db() as session, session.begin():
        await draft_intake.store_in(session=session, draft=draft, card=None)
    return draft.id


async def test_enqueue_is_part_of_the_callers_transaction(
    db: async_sessionmaker[AsyncSession],
) -> None:
    async with db() as session, session.begin():
        kept = await outbox.enqueue(session=session, chat_id=42, text="<b>kept</b>")
    with pytest.raises(RuntimeError):
        async with db() as session, session.begin():
            await outbox.enqueue(session=session, chat_id=42, text="rolled back")
            raise RuntimeError("the caller's change failed")
    async with db() as session:
        rows = (await session.scalars(select(OutboxMessage))).all()
    assert [(row.id, row.text, row.status, row.attempts) for row in rows] == [
        (kept, "<b>kept</b>", "pending", 0)
    ]


async def test_a_claimed_message_is_not_claimed_again_until_its_lease_ends(
    db: async_sessionmaker[AsyncSession],
) -> None:
    async with db() as session, session.begin():
        # Two chats: one chat's messages are claimed one at a time, in order.
        first = await outbox.enqueue(session=session, chat_id=1, text="a")
        second = await outbox.enqueue(session=session, chat_id=2, text="b")
    async with db() as session, session.begin():
        claimed = await outbox.claim(session=session, worker="w1", lease=LEASE)
    assert [(row.id, row.claimed_by, row.attempts) for row in claimed] == [
        (first, "w1", 0),  # attempts count outcomes (sent, retried, failed), not claims
        (second, "w1", 0),
    ]
    async with db() as session, session.begin():
        assert await outbox.claim(session=session, worker="w2", lease=LEASE) == []
    async with db() as session, session.begin():
        await outbox.release_claims(session=session, worker="w1", ids=[second])
    async with db() as session, session.begin():
        again = await outbox.claim(session=session, worker="w2", lease=LEASE)
    assert [(row.id, row.claimed_by) for row in again] == [(second, "w2")]


async def test_an_expired_lease_can_be_claimed_by_another_worker(
    db: async_sessionmaker[AsyncSession],
) -> None:
    async with db() as session, session.begin():
        outbox_id = await outbox.enqueue(session=session, chat_id=1, text="a")
    async with db() as session, session.begin():
        await outbox.claim(session=session, worker="dead", lease=timedelta(seconds=-1))
    async with db() as session, session.begin():
        claimed = await outbox.claim(session=session, worker="alive", lease=LEASE)
    assert [(row.id, row.claimed_by) for row in claimed] == [(outbox_id, "alive")]


async def test_concurrent_claims_never_share_a_row(
    db: async_sessionmaker[AsyncSession],
) -> None:
    async with db() as session, session.begin():
        # One chat each: a chat's next message waits for its head to be sent.
        ids = [await outbox.enqueue(session=session, chat_id=n, text=str(n)) for n in range(30)]

    async def claim_all(worker: str) -> list[int]:
        got: list[int] = []
        while True:
            async with db() as session, session.begin():
                rows = await outbox.claim(session=session, worker=worker, lease=LEASE, limit=3)
            if not rows:
                return got
            got.extend(row.id for row in rows if row.id is not None)

    results = await asyncio.gather(*(claim_all(f"w{n}") for n in range(4)))
    claimed = [outbox_id for result in results for outbox_id in result]
    assert sorted(claimed) == ids


async def test_mark_sent_stores_the_message_id_on_the_draft_once(
    db: async_sessionmaker[AsyncSession], engine: AsyncEngine
) -> None:
    hot = HotPath(engine)
    draft_id = await _draft(db)
    async with db() as session, session.begin():
        outbox_id = await outbox.enqueue(session=session, chat_id=1, text="x", draft_id=draft_id)
    sent = outbox.Sent(outbox_id, 77, draft_id)
    assert await outbox.mark_sent(hot=hot, sent=[sent]) == [
        outbox.Marked(outbox_id, draft_id, "pending")
    ]
    assert await outbox.mark_sent(hot=hot, sent=[sent._replace(message_id=78)]) == []
    async with db() as session:
        draft = await session.get(Draft, draft_id)
        row = await session.get(OutboxMessage, outbox_id)
    assert draft is not None and draft.telegram_message_id == 77
    assert row is not None and (row.status, row.message_id) == ("sent", 77)
    assert row.sent_at is not None


async def test_a_batch_is_recorded_at_once_and_a_drafts_card_stays_in_its_first_chat(
    db: async_sessionmaker[AsyncSession], engine: AsyncEngine
) -> None:
    hot = HotPath(engine)
    first_draft, second_draft = await _draft(db), await _draft(db)
    async with db() as session, session.begin():
        card = await outbox.enqueue(session=session, chat_id=1, text="a", draft_id=first_draft)
        note = await outbox.enqueue(session=session, chat_id=1, text="b")
        other = await outbox.enqueue(session=session, chat_id=1, text="c", draft_id=second_draft)
        # A copy of the first card in another user's chat, recorded in the same batch.
        copy = await outbox.enqueue(session=session, chat_id=2, text="a", draft_id=first_draft)
        done = await outbox.enqueue(session=session, chat_id=1, text="d")
    await outbox.mark_sent(hot=hot, sent=[outbox.Sent(done, 9)])

    marked = await outbox.mark_sent(
        hot=hot,
        sent=[
            outbox.Sent(card, 11, first_draft),
            outbox.Sent(note, 12),
            outbox.Sent(other, 13, second_draft),
            outbox.Sent(copy, 5, first_draft),
            outbox.Sent(done, 14),  # already recorded: left as it was
        ],
    )

    assert sorted(marked, key=lambda row: row.outbox_id) == [
        outbox.Marked(card, first_draft, "pending"),
        outbox.Marked(note, None, None),
        outbox.Marked(other, second_draft, "pending"),
        outbox.Marked(copy, first_draft, "pending"),
    ]
    async with db() as session:
        rows = {row.id: row for row in await session.scalars(select(OutboxMessage))}
        cards = {
            draft.id: draft.telegram_message_id for draft in await session.scalars(select(Draft))
        }
        shown = (
            await session.execute(
                select(DraftMessage.chat_id, DraftMessage.message_id, DraftMessage.draft_id)
            )
        ).all()
    assert {outbox_id: (row.status, row.message_id) for outbox_id, row in rows.items()} == {
        card: ("sent", 11),
        note: ("sent", 12),
        other: ("sent", 13),
        copy: ("sent", 5),
        done: ("sent", 9),
    }
    assert cards == {first_draft: 11, second_draft: 13}
    assert sorted(shown) == sorted(
        [(1, 11, first_draft), (1, 13, second_draft), (2, 5, first_draft)]
    )


async def test_reschedule_and_next_due(db: async_sessionmaker[AsyncSession]) -> None:
    async with db() as session:
        assert await outbox.next_due_at(session=session) is None
    async with db() as session, session.begin():
        outbox_id = await outbox.enqueue(session=session, chat_id=1, text="x")
        await outbox.claim(session=session, worker="w", lease=LEASE)
    later = utcnow() + timedelta(minutes=5)
    async with db() as session, session.begin():
        await outbox.reschedule(
            session=session, outbox_id=outbox_id, next_attempt_at=later, error="HTTP 500"
        )
    async with db() as session, session.begin():
        assert await outbox.claim(session=session, worker="w", lease=LEASE) == []
        due = await outbox.next_due_at(session=session)
        row = await session.get(OutboxMessage, outbox_id)
    assert due is not None and abs(due - later) < timedelta(milliseconds=1)
    assert row is not None
    assert (row.last_error, row.claimed_by, row.attempts) == ("HTTP 500", None, 1)


async def test_a_failed_message_is_never_claimed(db: async_sessionmaker[AsyncSession]) -> None:
    async with db() as session, session.begin():
        outbox_id = await outbox.enqueue(session=session, chat_id=1, text="x")
        await outbox.mark_failed(session=session, outbox_id=outbox_id, error="chat not found")
    async with db() as session, session.begin():
        assert await outbox.claim(session=session, worker="w", lease=LEASE) == []
        assert await outbox.next_due_at(session=session) is None
        row = await session.get(OutboxMessage, outbox_id)
    assert row is not None and row.status == "failed"
    async with db() as session:
        assert await outbox.count_dead_since(session=session, since=utcnow() - LEASE) == 1
        assert await outbox.count_dead_since(session=session, since=utcnow() + LEASE) == 0
