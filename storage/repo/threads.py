"""Threads as the API shows them: a conversation with its messages, drafts and sessions."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

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
            .where(DraftFeedback.draft_id.in_(ids))  # type: ignore[attr-defined]
            .order_by(DraftFeedback.id)  # type: ignore[arg-type]
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
            .where(ThreadMessage.thread_id == thread_id)
            .order_by(ThreadMessage.id)  # type: ignore[arg-type]
        )
    ).all()
    drafts = (
        await session.scalars(
            select(Draft).where(Draft.thread_id == thread_id).order_by(Draft.created_at, Draft.id)  # type: ignore[arg-type]
        )
    ).all()
    sessions = (
        await session.scalars(
            select(CitizenSession)
            .where(CitizenSession.thread_id == thread_id)
            .order_by(CitizenSession.created_at, CitizenSession.id)  # type: ignore[arg-type]
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
        .order_by(Thread.last_message_at.desc(), Thread.id.desc())  # type: ignore[attr-defined]
        .limit(limit)
    )
    if client is not None:
        query = query.where(func.lower(Thread.client) == client.lower())
    if waiting is not None:
        query = query.where(
            Thread.waiting_since.is_not(None) if waiting else Thread.waiting_since.is_(None)  # type: ignore[union-attr]
        )
    if after is not None:
        query = query.where(older_than(Thread.last_message_at, Thread.id, after))
    return (await session.scalars(query)).all()
