"""Reminders of pending drafts whose client has waited too long: each draft gets one.

The claim is one conditional UPDATE, so of several processes exactly one reminds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Draft, Thread


@dataclass(frozen=True)
class Due:
    draft: Draft
    waiting_since: datetime
    """The client's oldest unanswered message (the draft's creation without a thread)."""


def _waiting_since() -> object:
    thread_waits = (
        select(Thread.waiting_since).where(Thread.id == Draft.thread_id).scalar_subquery()
    )
    return func.coalesce(thread_waits, Draft.created_at)


async def claim_due(
    *, session: AsyncSession, waited_before: datetime, now: datetime, limit: int = 50
) -> Sequence[Due]:
    """Mark reminded, and return, pending drafts with a card whose client has waited since
    before `waited_before` and that were never reminded."""
    waiting = _waiting_since()
    due_ids = (
        select(Draft.id)
        .where(
            Draft.status == "pending",
            Draft.reminded_at.is_(None),  # type: ignore[union-attr]
            Draft.telegram_message_id.is_not(None),  # type: ignore[union-attr]
            waiting <= waited_before,  # type: ignore[operator]
        )
        .order_by(Draft.created_at)  # type: ignore[arg-type]
        .limit(limit)
    )
    claimed = (
        await session.scalars(
            update(Draft)
            .where(
                Draft.id.in_(due_ids),  # type: ignore[attr-defined]
                Draft.status == "pending",
                Draft.reminded_at.is_(None),  # type: ignore[union-attr]
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
