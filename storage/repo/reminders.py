"""Reminders of pending drafts whose client has waited too long: each draft gets one.

The claim is one conditional UPDATE, so of several processes exactly one reminds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.models import Draft, Thread


@dataclass(frozen=True)
class Due:
    draft: Draft
    waiting_since: datetime
    """The client's oldest unanswered message (the draft's creation without a thread)."""


def _waiting_since() -> ColumnElement[datetime]:
    thread_waits = (
        select(col(Thread.waiting_since))
        .where(col(Thread.id) == col(Draft.thread_id))
        .scalar_subquery()
    )
    return func.coalesce(thread_waits, col(Draft.created_at))


async def claim_due(
    *, session: AsyncSession, waited_before: datetime, now: datetime, limit: int = 50
) -> Sequence[Due]:
    """Mark reminded, and return, pending drafts with a card whose client has waited since
    before `waited_before` and that were never reminded."""
    waiting = _waiting_since()
    due_ids = (
        select(col(Draft.id))
        .where(
            col(Draft.status) == "pending",
            col(Draft.reminded_at).is_(None),
            col(Draft.telegram_message_id).is_not(None),
            waiting <= waited_before,
        )
        .order_by(col(Draft.created_at))
        .limit(limit)
    )
    claimed = (
        await session.scalars(
            update(Draft)
            .where(
                col(Draft.id).in_(due_ids),
                col(Draft.status) == "pending",
                col(Draft.reminded_at).is_(None),
            )
            .values(reminded_at=now)
            .returning(Draft)
            .execution_options(synchronize_session=False)
        )
    ).all()
    found = []
    for draft in claimed:
        since = draft.created_at
        if draft.thread_id is not None:
            thread = await session.get(Thread, draft.thread_id)
            if thread is not None and thread.waiting_since is not None:
                since = thread.waiting_since
        found.append(Due(draft, since))
    return found
