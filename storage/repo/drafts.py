"""Drafts waiting for, or carrying, the operator's decision."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.hotpath import HotPath, HotStatement
from storage.models import Draft
from storage.repo.keyset import older_than
from storage.types import utcnow

DRAFTS = Draft.__table__
_COLUMNS = tuple(column.name for column in DRAFTS.columns)
_READ_BY_ID = HotStatement(select(DRAFTS).where(DRAFTS.c.id == bindparam("draft_id")))


def new(**fields: Any) -> Draft:
    """A new pending draft with its id and times, not stored yet (see `draft_intake`)."""
    now = utcnow()
    return Draft(id=str(uuid.uuid4()), created_at=now, updated_at=now, **fields)


async def get(*, session: AsyncSession, draft_id: str) -> Draft | None:
    return await session.get(Draft, draft_id)


async def read(*, hot: HotPath, draft_id: str) -> dict[str, Any] | None:
    """One draft's columns, as a statement of its own: the API's read, with no ORM object."""
    row = await hot.fetchrow(_READ_BY_ID, {"draft_id": draft_id})
    return None if row is None else dict(zip(_COLUMNS, row, strict=True))


async def list_page(
    *,
    session: AsyncSession,
    status: str | None,
    limit: int,
    after: tuple[datetime, str] | None = None,
    thread_id: str | None = None,
    client: str | None = None,
) -> Sequence[Draft]:
    """Newest first; `after` is the (created_at, id) of the last row of the previous page.

    `client` matches case-insensitively."""
    query = select(Draft).order_by(Draft.created_at.desc(), Draft.id.desc()).limit(limit)  # type: ignore[attr-defined]
    if status is not None:
        query = query.where(Draft.status == status)
    if thread_id is not None:
        query = query.where(Draft.thread_id == thread_id)
    if client is not None:
        query = query.where(func.lower(Draft.client) == client.lower())
    if after is not None:
        query = query.where(older_than(Draft.created_at, Draft.id, after))
    return (await session.scalars(query)).all()


async def decide(
    *, session: AsyncSession, draft_id: str, status: str, decided_by: int
) -> Draft | None:
    """Move a pending draft to `status`; None when it is not pending (or does not exist).

    The status test is in the UPDATE itself, so of many concurrent decisions exactly one
    changes the row: the caller writes its event only when a draft comes back.
    """
    now = utcnow()
    result = await session.scalars(
        update(Draft)
        .where(Draft.id == draft_id, Draft.status == "pending")  # type: ignore[arg-type]
        .values(status=status, decided_by=decided_by, decided_at=now, updated_at=now)
        .returning(Draft)
        .execution_options(synchronize_session=False)
    )
    return result.one_or_none()


async def replace_text(*, session: AsyncSession, draft_id: str, text: str) -> str | None:
    """Replace a pending draft's text and return the old one; None when it is not pending."""
    old = await session.scalar(
        select(Draft.draft_text)
        .where(Draft.id == draft_id, Draft.status == "pending")  # type: ignore[arg-type]
        .with_for_update()
    )
    if old is None:
        return None
    changed = await session.execute(
        update(Draft)
        .where(Draft.id == draft_id, Draft.status == "pending")  # type: ignore[arg-type]
        .values(draft_text=text, updated_at=utcnow())
    )
    return old if changed.rowcount == 1 else None  # type: ignore[attr-defined]


async def pending_page(
    *, session: AsyncSession, after_id: str | None, limit: int
) -> tuple[Sequence[Draft], int]:
    """Pending drafts, newest first, after draft `after_id` (keyset: a draft decided between
    pages shifts nothing); and how many pending drafts come after this page."""
    pending = Draft.status == "pending"
    after = await session.get(Draft, after_id) if after_id is not None else None
    if after is not None:
        pending = pending & older_than(Draft.created_at, Draft.id, (after.created_at, after.id))
    rows = (
        await session.scalars(
            select(Draft)
            .where(pending)
            .order_by(Draft.created_at.desc(), Draft.id.desc())  # type: ignore[attr-defined]
            .limit(limit)
        )
    ).all()
    remaining = 0
    if len(rows) == limit:
        last = rows[-1]
        remaining = int(
            await session.scalar(
                select(func.count())
                .select_from(Draft)
                .where(
                    Draft.status == "pending",
                    older_than(Draft.created_at, Draft.id, (last.created_at, last.id)),
                )
            )
            or 0
        )
    return rows, remaining
