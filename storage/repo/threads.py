"""Threads as the API shows them: a conversation with its messages, drafts and sessions."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.folding import fold
from storage.hotpath import HotPath, HotStatement, Row
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
        query = query.where(col(Thread.client_key) == fold(client))
    if waiting is not None:
        query = query.where(
            col(Thread.waiting_since).is_not(None)
            if waiting
            else col(Thread.waiting_since).is_(None)
        )
    if after is not None:
        query = query.where(older_than(col(Thread.last_message_at), col(Thread.id), after))
    return (await session.scalars(query)).all()


_THREADS, _MESSAGES = Thread.__table__, ThreadMessage.__table__
_DRAFTS, _FEEDBACK, _SESSIONS = Draft.__table__, DraftFeedback.__table__, CitizenSession.__table__
_ID: BindParameter[str] = bindparam("thread_id")
# Each part of the view is one statement; its columns are named as the API names them.
_VIEW_THREAD = HotStatement(
    select(
        _THREADS.c.id,
        _THREADS.c.platform,
        _THREADS.c.client,
        _THREADS.c.job_title,
        _THREADS.c.job_link,
        _THREADS.c.created_at,
        _THREADS.c.last_message_at,
        _THREADS.c.waiting_since,
    ).where(_THREADS.c.id == _ID)
)
_VIEW_MESSAGES = HotStatement(
    select(_MESSAGES.c.direction, _MESSAGES.c.text, _MESSAGES.c.at, _MESSAGES.c.draft_id)
    .where(_MESSAGES.c.thread_id == _ID)
    .order_by(_MESSAGES.c.id)
)
_VIEW_DRAFTS = HotStatement(
    select(
        _DRAFTS.c.id,
        _DRAFTS.c.citizen,
        _DRAFTS.c.status,
        _DRAFTS.c.draft_text,
        _DRAFTS.c.created_at,
        _DRAFTS.c.decided_at,
        _DRAFTS.c.sent_at,
        _DRAFTS.c.note,
    )
    .where(_DRAFTS.c.thread_id == _ID)
    .order_by(_DRAFTS.c.created_at, _DRAFTS.c.id)
)
_VIEW_FEEDBACK = HotStatement(
    select(
        _FEEDBACK.c.draft_id,
        _FEEDBACK.c.kind,
        _FEEDBACK.c.text,
        _FEEDBACK.c.old_text,
        _FEEDBACK.c.at,
    )
    .join(_DRAFTS, _DRAFTS.c.id == _FEEDBACK.c.draft_id)
    .where(_DRAFTS.c.thread_id == _ID)
    .order_by(_FEEDBACK.c.id)
)
_VIEW_SESSIONS = HotStatement(
    select(_SESSIONS.c.id, _SESSIONS.c.citizen, _SESSIONS.c.status, _SESSIONS.c.cost_usd)
    .where(_SESSIONS.c.thread_id == _ID)
    .order_by(_SESSIONS.c.created_at, _SESSIONS.c.id)
)


def _named(statement: HotStatement, rows: Sequence[Row]) -> list[dict[str, Any]]:
    names = statement.column_names
    return [dict(zip(names, row, strict=True)) for row in rows]


async def view(*, hot: HotPath, thread_id: str) -> dict[str, Any] | None:
    """The thread with its messages, drafts (each with its feedback) and sessions, each part
    oldest first, as the API shows it (`ThreadOut`'s fields); None when there is no such
    thread. One statement per part, all in one snapshot, no ORM objects: loading a long
    thread as models cost six times the statements (`python -m bench --only thread`)."""
    params = {"thread_id": thread_id}
    async with hot.snapshot() as fetch:
        found = await fetch(_VIEW_THREAD, params)
        if not found:
            return None
        messages = await fetch(_VIEW_MESSAGES, params)
        drafts = await fetch(_VIEW_DRAFTS, params)
        feedback = await fetch(_VIEW_FEEDBACK, params) if drafts else []
        sessions = await fetch(_VIEW_SESSIONS, params)
    by_draft: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in _named(_VIEW_FEEDBACK, feedback):
        by_draft[item.pop("draft_id")].append(item)
    [thread] = _named(_VIEW_THREAD, found)
    thread["messages"] = _named(_VIEW_MESSAGES, messages)
    thread["drafts"] = [
        {**draft, "feedback": by_draft[draft["id"]]} for draft in _named(_VIEW_DRAFTS, drafts)
    ]
    thread["sessions"] = _named(_VIEW_SESSIONS, sessions)
    return thread
