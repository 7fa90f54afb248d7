"""What waits for the operator: pending drafts, oldest first, with how long each client waits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Draft, ThreadMessage

MAX_PENDING = 200


@dataclass(frozen=True)
class Waiting:
    draft: Draft
    waiting_since: datetime
    """The thread's last client message, else the draft's creation (contract §5)."""


async def pending(*, session: AsyncSession, limit: int = MAX_PENDING) -> list[Waiting]:
    rows: Sequence[Draft] = (
        await session.scalars(
            select(Draft)
            .where(Draft.status == "pending")  # type: ignore[arg-type]
            .order_by(Draft.created_at, Draft.id)  # type: ignore[arg-type]
            .limit(limit)
        )
    ).all()
    last_in = await last_client_messages(
        session=session, thread_ids={d.thread_id for d in rows if d.thread_id}
    )
    return [Waiting(d, last_in.get(d.thread_id or "", d.created_at)) for d in rows]


async def waiting_since(*, session: AsyncSession, draft: Draft) -> datetime:
    if draft.thread_id is None:
        return draft.created_at
    found = await last_client_messages(session=session, thread_ids={draft.thread_id})
    return found.get(draft.thread_id, draft.created_at)


async def last_client_messages(
    *, session: AsyncSession, thread_ids: set[str]
) -> dict[str, datetime]:
    if not thread_ids:
        return {}
    rows = await session.execute(
        select(ThreadMessage.thread_id, func.max(ThreadMessage.at))  # type: ignore[call-overload]
        .where(
            ThreadMessage.thread_id.in_(thread_ids),  # type: ignore[attr-defined]
            ThreadMessage.direction == "in",
        )
        .group_by(ThreadMessage.thread_id)
    )
    return {thread_id: at for thread_id, at in rows.all() if at is not None}
