"""What waits for the operator: pending drafts, the longest-waiting client first.

The one definition of how long a draft's client has waited, for every place that shows or
acts on it (the Mini App, cards, reminders, the digest): since its thread's `waiting_since`,
the client's oldest message not yet answered (CONTRACT §9), or since the draft was created
when it has no thread or nothing of its thread waits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.models import Draft, Thread

MAX_PENDING = 200


@dataclass(frozen=True)
class Waiting:
    draft: Draft
    waiting_since: datetime
    """See the module's definition."""


def waiting_since_of(draft: Draft, thread: Thread | None) -> datetime:
    """When the draft's client began waiting (the module's definition), `thread` being the
    draft's thread, when it has one."""
    if thread is not None and thread.waiting_since is not None:
        return thread.waiting_since
    return draft.created_at


def waiting_since_column() -> ColumnElement[datetime]:
    """The same as `waiting_since_of`, in SQL, for a query over drafts."""
    thread_waits = (
        select(col(Thread.waiting_since))
        .where(col(Thread.id) == col(Draft.thread_id))
        .scalar_subquery()
    )
    return func.coalesce(thread_waits, col(Draft.created_at))


async def pending(*, session: AsyncSession, limit: int = MAX_PENDING) -> list[Waiting]:
    """Pending drafts, the longest-waiting client first, with when each began waiting."""
    since = waiting_since_column()
    rows = await session.execute(
        select(Draft, since)
        .where(col(Draft.status) == "pending")
        .order_by(since, col(Draft.created_at), col(Draft.id))
        .limit(limit)
    )
    return [Waiting(draft, moment) for draft, moment in rows.all()]


async def waiting_since(*, session: AsyncSession, draft: Draft) -> datetime:
    thread = None if draft.thread_id is None else await session.get(Thread, draft.thread_id)
    return waiting_since_of(draft, thread)
