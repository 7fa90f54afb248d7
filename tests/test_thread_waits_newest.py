"""Each thread's newest draft and session, read one row a thread (storage/repo/thread_waits)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import CitizenSession, Thread
from storage.repo import drafts, thread_waits
from storage.types import utcnow


async def test_the_newest_of_each_thread_by_time_then_id(
    db: async_sessionmaker[AsyncSession],
) -> None:
    now = utcnow()
    first, second, quiet = (str(uuid.uuid4()) for _ in range(3))
    async with db() as session, session.begin():
        for thread_id in (first, second, quiet):
            session.add(Thread(id=thread_id, platform="upwork", client="Acme"))
        await session.flush()
        for n, (thread_id, age) in enumerate([(first, 3), (first, 1), (first, 2), (second, 5)]):
            draft = drafts.new(
                client="Acme",
                job_title="Bot",
                message="Hi",
                draft_text=f"draft {n}",
                confidence=80,
                context={},
            )
            draft.thread_id, draft.created_at = thread_id, now - timedelta(minutes=age)
            session.add(draft)
        # Two sessions queued at the same instant: the larger id is the newer.
        for session_id in ("a" * 36, "b" * 36, "0" * 36):
            session.add(
                CitizenSession(
                    id=session_id,
                    citizen="rafael",
                    trigger="webhook",
                    prompt="p",
                    thread_id=second if session_id != "0" * 36 else first,
                    created_at=now,
                )
            )

    async with db() as session:
        newest_drafts = await thread_waits.latest_drafts(
            session=session, thread_ids=[first, second, quiet]
        )
        newest_sessions = await thread_waits.latest_sessions(
            session=session, thread_ids=[first, second, quiet]
        )

    assert {t: d.draft_text for t, d in newest_drafts.items()} == {
        first: "draft 1",
        second: "draft 3",
    }
    assert {t: s.id for t, s in newest_sessions.items()} == {first: "0" * 36, second: "b" * 36}
