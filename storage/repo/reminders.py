"""Reminders of pending drafts whose client has waited too long: each draft gets one.

The claim is one conditional UPDATE, so of several processes exactly one reminds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.models import Draft, Thread
from storage.repo import inbox


@dataclass(frozen=True)
class Due:
    draft: Draft
    waiting_since: datetime
    """storage/repo/inbox.py's definition."""


async def claim_due(
    *, session: AsyncSession, waited_before: datetime, now: datetime, limit: int = 50
) -> Sequence[Due]:
    """Mark reminded, and return, pending drafts with a card whose client has waited since
    before `waited_before` and that were never reminded."""
    waiting = inbox.waiting_since_column()
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
        thread = None if draft.thread_id is None else await session.get(Thread, draft.thread_id)
        found.append(Due(draft, inbox.waiting_since_of(draft, thread)))
    return found
