"""Draft actions on both databases: mark sent and redraft happen once, however many callers."""

from __future__ import annotations

import asyncio

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from citizens import prompts
from storage.hotpath import HotPath
from storage.models import CitizenSession, Draft, Event, Thread, ThreadMessage
from storage.repo import draft_actions, drafts, thread_intake
from storage.types import utcnow
from tests.factories import draft_body

DB = async_sessionmaker[AsyncSession]
ACTOR = draft_actions.Actor(42, "Nicolas")


async def new_draft(db: DB, **fields: object) -> tuple[str, str]:
    """A pending draft on a new thread whose client waits; (draft_id, thread_id)."""
    hot = HotPath(db.kw["bind"])
    async with hot.transaction() as fetch:
        joined = await thread_intake.receive(
            fetch,
            incoming=thread_intake.ClientMessage(client="Acme", message="Monday?"),
            now=utcnow(),
        )
    async with db() as session, session.begin():
        body = draft_body() | {"thread_id": joined.thread_id} | fields
        draft = drafts.new(**body)
        session.add(draft)
    return draft.id, joined.thread_id


async def names(db: DB, prefix: str) -> list[str]:
    async with db() as session:
        rows = await session.scalars(select(Event.event).where(Event.event.startswith(prefix)))  # type: ignore[attr-defined]
        return list(rows)


async def test_mark_sent_happens_once_and_only_after_approval(db: DB) -> None:
    draft_id, thread_id = await new_draft(db)

    async def mark() -> bool:
        async with db() as session, session.begin():
            return (
                await draft_actions.mark_sent(session=session, draft_id=draft_id, actor=ACTOR)
            ).changed

    assert await mark() is False  # still pending
    async with db() as session, session.begin():
        await draft_actions.decide(
            session=session, draft_id=draft_id, status="approved", actor=ACTOR, deliver=None
        )
    assert sorted(await asyncio.gather(*(mark() for _ in range(5)))) == [False] * 4 + [True]

    assert await names(db, "draft.sent") == ["draft.sent@1.0"]
    async with db() as session:
        draft = await session.get(Draft, draft_id)
        thread = await session.get(Thread, thread_id)
        out = (
            await session.scalars(select(ThreadMessage).where(ThreadMessage.direction == "out"))
        ).all()
    assert draft is not None and draft.status == "sent" and draft.sent_at is not None
    assert thread is not None and thread.waiting_since is None
    assert len(out) == 1 and out[0].draft_id == draft_id


async def test_a_redraft_happens_once_and_queues_one_session(db: DB) -> None:
    draft_id, thread_id = await new_draft(db)

    async def redraft(n: int) -> bool:
        async with db() as session, session.begin():
            outcome = await draft_actions.redraft(
                session=session,
                draft_id=draft_id,
                instruction=f"shorter {n}",
                actor=ACTOR,
                prompt=prompts.redraft_of,
            )
            return outcome.changed

    assert sorted(await asyncio.gather(*(redraft(n) for n in range(4)))) == [False] * 3 + [True]
    assert await names(db, "draft.redraft_requested") == ["draft.redraft_requested@1.0"]
    async with db() as session:
        [queued] = (await session.scalars(select(CitizenSession))).all()
        draft = await session.get(Draft, draft_id)
    assert (queued.thread_id, queued.draft_id, queued.trigger) == (thread_id, draft_id, "redraft")
    assert draft is not None and draft.status == "superseded" and draft.decided_by == 42
    assert draft.decided_at is not None and draft.decided_at <= utcnow()
