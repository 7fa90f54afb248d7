"""A client's message joins its thread (CONTRACT §9).

The thread is the one named by the sender's own key (`thread`), else the one with the same
job link, else the latest thread with the same client and job title (case-insensitive);
otherwise a new one begins. The message is stored as `in`, the thread's clock moves on,
and every pending draft of the thread is superseded: it answers an outdated message.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.models import Draft, Thread, ThreadMessage
from storage.repo import events
from storage.types import utcnow


@dataclass(frozen=True)
class ClientMessage:
    client: str
    message: str
    job_title: str | None = None
    job_link: str | None = None
    platform: str = "upwork"
    key: str | None = None
    """The sender's conversation key (a Gmail thread id)."""


@dataclass(frozen=True)
class Joined:
    thread: Thread
    new_thread: bool
    superseded: Sequence[Draft]
    """The thread's drafts that were pending: their cards must say the client wrote again."""


async def receive(*, session: AsyncSession, incoming: ClientMessage) -> Joined:
    """Store the message in its thread, with `thread.message.received@1.0` and a
    `draft.superseded@1.0` per pending draft of that thread; in the caller's transaction."""
    now = utcnow()
    thread = await find(session=session, incoming=incoming)
    new_thread = thread is None
    if thread is None:
        thread = Thread(
            id=str(uuid.uuid4()),
            platform=incoming.platform.lower(),
            client=incoming.client,
            job_title=incoming.job_title,
            job_link=incoming.job_link,
            external_key=incoming.key,
            created_at=now,
            last_message_at=now,
        )
    thread.job_title = thread.job_title or incoming.job_title
    thread.job_link = thread.job_link or incoming.job_link
    thread.external_key = thread.external_key or incoming.key
    thread.last_message_at = now
    thread.waiting_since = thread.waiting_since or now
    session.add(thread)
    await session.flush()
    session.add(ThreadMessage(thread_id=thread.id, direction="in", text=incoming.message, at=now))
    await events.append(
        session=session,
        event="thread.message.received@1.0",
        payload={
            "thread_id": thread.id,
            "client": incoming.client,
            "platform": thread.platform,
            "new_thread": new_thread,
            "message_chars": len(incoming.message),
        },
    )
    superseded = (
        await session.scalars(
            update(Draft)
            .where(col(Draft.thread_id) == thread.id, col(Draft.status) == "pending")
            .values(status="superseded", updated_at=now, decided_at=now)
            .returning(Draft)
            .execution_options(synchronize_session=False, populate_existing=True)
        )
    ).all()
    for draft in superseded:
        await events.append(
            session=session,
            event="draft.superseded@1.0",
            payload={"draft_id": draft.id, "thread_id": thread.id, "reason": "client_wrote"},
        )
    await session.flush()
    return Joined(thread, new_thread, superseded)


async def find(*, session: AsyncSession, incoming: ClientMessage) -> Thread | None:
    """The thread this message belongs to, locked for the caller's transaction; or None."""
    latest = (col(Thread.last_message_at).desc(), col(Thread.id).desc())
    if incoming.key is not None:
        found = await session.scalar(
            select(Thread).where(col(Thread.external_key) == incoming.key).with_for_update()
        )
        if found is not None:
            return found
    if incoming.job_link is not None:
        found = await session.scalar(
            select(Thread)
            .where(col(Thread.job_link) == incoming.job_link)
            .order_by(*latest)
            .limit(1)
            .with_for_update()
        )
        if found is not None:
            return found
    title = (
        col(Thread.job_title).is_(None)
        if incoming.job_title is None
        else func.lower(col(Thread.job_title)) == incoming.job_title.lower()
    )
    return await session.scalar(
        select(Thread)
        .where(func.lower(col(Thread.client)) == incoming.client.lower(), title)
        .order_by(*latest)
        .limit(1)
        .with_for_update()
    )
