"""Clients who wait: what a thread's sessions and drafts say about it (CONTRACT §14).

A thread's client waits from `Thread.waiting_since` (the oldest message not yet answered, §9)
until a reply is sent, whatever happens to the sessions and drafts in between. These queries
find the threads that wait with no pending draft (listed, reminded and digested like pending
drafts), the client message a session answers, and what a thread's latest session did.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from sqlalchemy import exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.models import CitizenSession, Draft, Thread, ThreadMessage
from storage.repo import citizen_queue, draft_intake, drafts

_PerThread = TypeVar("_PerThread", CitizenSession, Draft)

MAX_LISTED = 50
OPERATOR = "operator"
"""The citizen name of a reply the operator typed himself."""


@dataclass(frozen=True)
class ThreadWaiting:
    """A thread whose client waits with no pending draft, and what became of its latest
    session and draft (None: none yet)."""

    thread: Thread
    session: CitizenSession | None
    draft: Draft | None


def _no_pending_draft() -> object:
    return ~exists().where(col(Draft.thread_id) == col(Thread.id), col(Draft.status) == "pending")


async def without_draft(*, session: AsyncSession, limit: int = MAX_LISTED) -> list[ThreadWaiting]:
    """Threads whose client waits with no pending draft, the longest-waiting first."""
    rows = (
        await session.scalars(
            select(Thread)
            .where(col(Thread.waiting_since).is_not(None), _no_pending_draft())  # type: ignore[arg-type]
            .order_by(col(Thread.waiting_since), col(Thread.id))
            .limit(limit)
        )
    ).all()
    ids = [row.id for row in rows]
    sessions = await latest_sessions(session=session, thread_ids=ids)
    drafts = await latest_drafts(session=session, thread_ids=ids)
    return [ThreadWaiting(row, sessions.get(row.id), drafts.get(row.id)) for row in rows]


async def waiting_one(*, session: AsyncSession, thread: Thread) -> ThreadWaiting:
    """`thread` with its latest session and draft."""
    sessions = await latest_sessions(session=session, thread_ids=[thread.id])
    drafts = await latest_drafts(session=session, thread_ids=[thread.id])
    return ThreadWaiting(thread, sessions.get(thread.id), drafts.get(thread.id))


async def latest_sessions(
    *, session: AsyncSession, thread_ids: Sequence[str]
) -> dict[str, CitizenSession]:
    """Each thread's newest session."""
    return await _newest_per_thread(session, CitizenSession, thread_ids)


async def latest_drafts(*, session: AsyncSession, thread_ids: Sequence[str]) -> dict[str, Draft]:
    """Each thread's newest draft."""
    return await _newest_per_thread(session, Draft, thread_ids)


async def _newest_per_thread(
    session: AsyncSession, model: type[_PerThread], thread_ids: Sequence[str]
) -> dict[str, _PerThread]:
    """The newest row of `model` (by `created_at`, then id) of each thread: one row a thread
    read, whatever the thread's history."""
    if not thread_ids:
        return {}
    table = model.__table__
    rank = (
        func.row_number()
        .over(
            partition_by=table.c.thread_id, order_by=(table.c.created_at.desc(), table.c.id.desc())
        )
        .label("rank")
    )
    ranked = select(table.c.id, rank).where(table.c.thread_id.in_(thread_ids)).subquery()
    newest = select(ranked.c.id).where(ranked.c.rank == 1)
    rows = await session.scalars(select(model).where(table.c.id.in_(newest)))
    return {row.thread_id: row for row in rows if row.thread_id is not None}


async def message_answered_by(
    *, session: AsyncSession, row: CitizenSession
) -> ThreadMessage | None:
    """The client message a thread session answers: the thread's latest one when it was
    queued (a retry or a redraft answers the latest as well)."""
    if row.thread_id is None:
        return None
    return await session.scalar(
        select(ThreadMessage)
        .where(
            col(ThreadMessage.thread_id) == row.thread_id,
            col(ThreadMessage.direction) == "in",
            col(ThreadMessage.at) <= row.created_at,
        )
        .order_by(col(ThreadMessage.at).desc(), col(ThreadMessage.id).desc())
        .limit(1)
    )


async def latest_client_message(*, session: AsyncSession, thread_id: str) -> ThreadMessage | None:
    return await session.scalar(
        select(ThreadMessage)
        .where(col(ThreadMessage.thread_id) == thread_id, col(ThreadMessage.direction) == "in")
        .order_by(col(ThreadMessage.at).desc(), col(ThreadMessage.id).desc())
        .limit(1)
    )


async def has_draft(*, session: AsyncSession, session_id: str) -> bool:
    """Did this session post a draft?"""
    found = await session.scalar(
        select(col(Draft.id)).where(col(Draft.session_id) == session_id).limit(1)
    )
    return found is not None


async def client_wrote_since(*, session: AsyncSession, thread_id: str, since: datetime) -> bool:
    """Did the thread's client write after `since` (a session's start)?"""
    found = await session.scalar(
        select(col(ThreadMessage.id))
        .where(
            col(ThreadMessage.thread_id) == thread_id,
            col(ThreadMessage.direction) == "in",
            col(ThreadMessage.at) > since,
        )
        .limit(1)
    )
    return found is not None


async def in_progress(*, session: AsyncSession, thread_id: str) -> CitizenSession | None:
    """A session queued or running on the thread, if any."""
    return await session.scalar(
        select(CitizenSession)
        .where(
            col(CitizenSession.thread_id) == thread_id,
            col(CitizenSession.status).in_(("queued", "running")),
        )
        .limit(1)
    )


async def claim_reminders(
    *, session: AsyncSession, waited_before: datetime, now: datetime, limit: int = 50
) -> Sequence[Thread]:
    """Mark reminded, and return, threads whose client has waited since before
    `waited_before` with no pending draft, not reminded since they began to wait. One
    conditional UPDATE: of several processes exactly one reminds."""
    not_reminded = or_(
        col(Thread.reminded_at).is_(None), col(Thread.reminded_at) < col(Thread.waiting_since)
    )
    due = (
        select(col(Thread.id))
        .where(
            col(Thread.waiting_since).is_not(None),
            col(Thread.waiting_since) <= waited_before,
            not_reminded,
            _no_pending_draft(),  # type: ignore[arg-type]
        )
        .order_by(col(Thread.waiting_since))
        .limit(limit)
    )
    claimed = await session.scalars(
        update(Thread)
        .where(col(Thread.id).in_(due), not_reminded)
        .values(reminded_at=now)
        .returning(Thread)
        .execution_options(synchronize_session=False)
    )
    return claimed.all()


@dataclass(frozen=True)
class Answering:
    """What a thread session's new draft answers."""

    thread: Thread | None
    notice_outbox_id: int | None
    """The session's notice, which the draft's card takes over (None: a draft of this session
    already did, or there is none)."""
    outdated: bool
    """The client wrote again after the session started: the draft answers an older message."""


async def answering(*, session: AsyncSession, session_id: str) -> Answering:
    """What the new draft of session `session_id` answers, holding its thread's row until the
    caller's transaction ends: a client's message joining the thread waits for it (§14)."""
    row = await session.get(CitizenSession, session_id)
    if row is None or row.thread_id is None:
        return Answering(None, None, False)
    thread = await session.get(Thread, row.thread_id, with_for_update=True)
    since = row.started_at or row.created_at
    outdated = await client_wrote_since(session=session, thread_id=row.thread_id, since=since)
    notice = None if await has_draft(session=session, session_id=row.id) else row.notice_outbox_id
    return Answering(thread, notice, outdated)


@dataclass(frozen=True)
class Requeued:
    session: CitizenSession | None
    """The session queued again (None: nothing was queued, `why` says why)."""
    why: str
    """`queued`, `gone`, `answered`, `drafting` or `pending`."""


async def requeue(*, session: AsyncSession, thread_id: str) -> Requeued:
    """Queue the thread's latest session again (the same citizen, prompt, lead and redrafted
    draft), as its notice: while the client waits and nothing is being drafted or pending."""
    thread = await session.get(Thread, thread_id, with_for_update=True)
    if thread is None:
        return Requeued(None, "gone")
    if thread.waiting_since is None:
        return Requeued(None, "answered")
    if await in_progress(session=session, thread_id=thread_id) is not None:
        return Requeued(None, "drafting")
    pending = await session.scalar(
        select(col(Draft.id))
        .where(col(Draft.thread_id) == thread_id, col(Draft.status) == "pending")
        .limit(1)
    )
    if pending is not None:
        return Requeued(None, "pending")
    last = (await latest_sessions(session=session, thread_ids=[thread_id])).get(thread_id)
    if last is None:
        return Requeued(None, "gone")
    row = await citizen_queue.enqueue(
        session=session,
        citizen=last.citizen,
        trigger="retry",
        prompt=last.prompt,
        thread_id=thread_id,
        lead_id=last.lead_id,
        draft_id=last.draft_id,
    )
    row.notice_outbox_id = last.notice_outbox_id
    session.add(row)
    await session.flush()
    return Requeued(row, "queued")


async def answer(*, session: AsyncSession, thread: Thread, text: str) -> Draft | None:
    """The operator's own reply to a waiting thread, as a new draft of citizen `operator`
    (stored with `draft.created@1.0`, still pending: the caller approves it at once). None
    when the thread has no client message to answer."""
    message = await latest_client_message(session=session, thread_id=thread.id)
    if message is None:
        return None
    draft = drafts.new(
        client=thread.client,
        job_title=thread.job_title or "(no job title)",
        message=message.text,
        draft_text=text,
        confidence=100,
        citizen=OPERATOR,
        thread_id=thread.id,
    )
    await draft_intake.store_in(session=session, draft=draft, card=None)
    return draft
