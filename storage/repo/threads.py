"""Threads as the API shows them: a conversation with its messages, drafts and sessions."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.models import CitizenSession, Draft, DraftFeedback, Thread, ThreadMessage
from storage.repo.keyset import older_than


async def get(*, session: AsyncSession, thread_id: str) -> Thread | None:
    return await session.get(Thread, thread_id)


async def feedback_for(
    *, session: AsyncSession, draft_ids: Iterable[str]
) -> dict[str, list[DraftFeedback]]:
    """Each draft's feedback, oldest first."""
    ids = list(dict.fromkeys(draft_ids))
    found: dict[str, list[DraftFeedback]] = defaultdict(list)
    if ids:
        rows = await session.scalars(
            select(DraftFeedback)
            .where(col(DraftFeedback.draft_id).in_(ids))
            .order_by(col(DraftFeedback.id))
        )
        for row in rows:
            found[row.draft_id].append(row)
    return found


async def view(*, session: AsyncSession, thread_id: str) -> dict[str, Any] | None:
    """The thread with its messages, drafts (with feedback) and sessions, oldest first."""
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
    feedback = await feedback_for(session=session, draft_ids=(draft.id for draft in drafts))
    return {
        **thread.model_dump(),
        "messages": messages,
        "drafts": [{**draft.model_dump(), "feedback": feedback[draft.id]} for draft in drafts],
        "sessions": sessions,
    }


async def list_page(
    *,
    session: AsyncSession,
    client: str | None = None,
    waiting: bool | None = None,
    limit: int,
    after: tuple[datetime, str] | None = None,
) -> Sequence[Thread]:
    """By latest activity; `after` is the (last_message_at, id) of the previous page's last."""
    query = (
        select(Thread)
        .order_by(col(Thread.last_message_at).desc(), col(Thread.id).desc())
        .limit(limit)
    )
    if client is not None:
        query = query.where(func.lower(col(Thread.client)) == client.lower())
    if waiting is not None:
        query = query.where(
            col(Thread.waiting_since).is_not(None)
            if waiting
            else col(Thread.waiting_since).is_(None)
        )
    if after is not None:
        query = query.where(older_than(col(Thread.last_message_at), col(Thread.id), after))
    return (await session.scalars(query)).all()
