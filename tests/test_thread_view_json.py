"""`GET /api/thread/{id}` reads rows, not models (storage/repo/threads.py `view`): it must
answer the same document as `ThreadOut` built from the thread's models, whatever the rows
hold, and its statements must see one state of the thread."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlmodel import col

from storage.hotpath import Fetch, HotPath, HotStatement, Row
from storage.models import CitizenSession, Draft, DraftFeedback, Thread, ThreadMessage
from storage.repo import threads
from web.schemas import ThreadOut

DB = async_sessionmaker[AsyncSession]
AT = datetime(2025, 11, 2, 14, 0, 0, 123456, tzinfo=UTC)
# Quotes, backslashes, control characters, non-ASCII and an emoji: what the encoder escapes.
AWKWARD = 'Say "hi"\\n\tthen\x01 — naïve 日本 🚀 </script>'


def _draft(thread_id: str, n: int, status: str, **fields: Any) -> Draft:
    return Draft(
        id=str(uuid.uuid4()),
        client="Jane",
        job_title="Bot",
        message="m",
        draft_text=f"{AWKWARD} draft {n}",
        confidence=70,
        status=status,
        thread_id=thread_id,
        created_at=AT + timedelta(minutes=n),
        updated_at=AT + timedelta(minutes=n),
        **fields,
    )


async def _seed(db: DB) -> str:
    thread_id = str(uuid.uuid4())
    async with db() as session, session.begin():
        session.add(
            Thread(
                id=thread_id,
                platform="upwork",
                client=f"Jane {AWKWARD}",
                job_title=None,
                job_link="https://www.upwork.com/jobs/~01?a=1&b=2",
                created_at=AT,
                last_message_at=AT.replace(microsecond=0) + timedelta(hours=1),
                waiting_since=None,
            )
        )
        await session.flush()
        sent = _draft(thread_id, 1, "sent", decided_at=AT, sent_at=AT, note=AWKWARD)
        superseded = _draft(thread_id, 2, "superseded")
        pending = _draft(thread_id, 3, "pending", decided_at=None)
        session.add_all([sent, superseded, pending])
        await session.flush()
        for n in range(30):
            session.add(
                ThreadMessage(
                    thread_id=thread_id,
                    direction="in" if n % 3 else "out",
                    text=f"{AWKWARD} {n}" + "\n" * (n % 2),
                    at=AT + timedelta(seconds=n),
                    draft_id=sent.id if n % 3 == 0 else None,
                )
            )
        session.add_all(
            [
                DraftFeedback(draft_id=sent.id, kind="edit", text=AWKWARD, old_text="old", at=AT),
                DraftFeedback(draft_id=superseded.id, kind="reject_reason", text="Too long"),
                DraftFeedback(draft_id=sent.id, kind="redraft", text="Shorter", at=AT),
            ]
        )
        for n, cost in enumerate([0.25, None, 1e-05, 3.0]):
            session.add(
                CitizenSession(
                    id=str(uuid.uuid4()),
                    citizen="rafael",
                    trigger="upwork-response",
                    prompt="p",
                    status="completed" if cost is not None else "failed",
                    thread_id=thread_id,
                    cost_usd=cost,
                    created_at=AT + timedelta(minutes=n),
                )
            )
    return thread_id


async def test_thread_view_answers_the_models_document(api: TestClient, db: DB) -> None:
    thread_id = await _seed(db)
    async with db() as session:
        found = await reference_view(session, thread_id)
    assert found is not None
    expected = json.loads(ThreadOut.model_validate(found).model_dump_json())

    response = await api.get(f"/api/thread/{thread_id}")

    assert response.status == 200
    assert response.content_type == "application/json"
    answer = json.loads(await response.read())
    assert answer == expected
    # The document is rich enough to mean something: every part and every null is there.
    assert len(answer["messages"]) == 30
    assert [d["status"] for d in answer["drafts"]] == ["sent", "superseded", "pending"]
    assert [len(d["feedback"]) for d in answer["drafts"]] == [2, 1, 0]
    assert [s["cost_usd"] for s in answer["sessions"]] == [0.25, None, 1e-05, 3.0]
    assert answer["job_title"] is None and answer["waiting_since"] is None


async def test_thread_without_drafts_or_sessions(api: TestClient, db: DB) -> None:
    thread_id = str(uuid.uuid4())
    async with db() as session, session.begin():
        session.add(Thread(id=thread_id, platform="upwork", client="Solo", created_at=AT))

    answer = await (await api.get(f"/api/thread/{thread_id}")).json()

    assert answer["messages"] == answer["drafts"] == answer["sessions"] == []
    assert answer["created_at"] == "2025-11-02T14:00:00.123456Z"


async def reference_view(session: AsyncSession, thread_id: str) -> dict[str, Any] | None:
    """The thread view built the plain way, through the ORM and the response model: the
    oracle the statements-on-the-driver version must agree with."""
    thread = await session.get(Thread, thread_id)
    if thread is None:
        return None
    messages = (
        await session.scalars(
            select(ThreadMessage)
            .where(col(ThreadMessage.thread_id) == thread_id)
            .order_by(col(ThreadMessage.id))
        )
    ).all()
    drafts = (
        await session.scalars(
            select(Draft)
            .where(col(Draft.thread_id) == thread_id)
            .order_by(col(Draft.created_at), col(Draft.id))
        )
    ).all()
    sessions = (
        await session.scalars(
            select(CitizenSession)
            .where(col(CitizenSession.thread_id) == thread_id)
            .order_by(col(CitizenSession.created_at), col(CitizenSession.id))
        )
    ).all()
    feedback = await threads.feedback_for(session=session, draft_ids=(d.id for d in drafts))
    return {
        **thread.model_dump(),
        "messages": messages,
        "drafts": [{**draft.model_dump(), "feedback": feedback[draft.id]} for draft in drafts],
        "sessions": sessions,
    }


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_the_view_reads_one_state_of_the_thread(engine: AsyncEngine, db: DB) -> None:
    """A reply committed while the view runs is in all of it or none of it: its statements
    share one snapshot. (SQLite's transaction holds the one write lock: nothing can commit
    in between there.)"""
    thread_id = await _seed(db)

    async def client_writes_again() -> None:
        async with db() as session, session.begin():
            later = AT + timedelta(days=1)
            session.add(ThreadMessage(thread_id=thread_id, direction="in", text="Hi?", at=later))
            thread = await session.get(Thread, thread_id)
            assert thread is not None
            thread.last_message_at = thread.waiting_since = later

    class WritingBetween(HotPath):
        """Lets the reply commit right after the view's first statement."""

        @asynccontextmanager
        async def snapshot(self) -> AsyncIterator[Fetch]:
            async with super().snapshot() as fetch:
                statements = 0

                async def fetch_then_write(
                    statement: HotStatement, params: Mapping[str, Any]
                ) -> Sequence[Row]:
                    nonlocal statements
                    rows = await fetch(statement, params)
                    statements += 1
                    if statements == 1:
                        await client_writes_again()
                    return rows

                yield fetch_then_write

    view = await threads.view(hot=WritingBetween(engine), thread_id=thread_id)

    assert view is not None
    assert len(view["messages"]) == 30 and view["waiting_since"] is None
    assert view["last_message_at"] == AT.replace(microsecond=0) + timedelta(hours=1)
    after = await threads.view(hot=HotPath(engine), thread_id=thread_id)
    assert after is not None and len(after["messages"]) == 31
