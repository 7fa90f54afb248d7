"""Drafts waiting for, or carrying, the operator's decision."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Draft
from storage.repo.keyset import older_than
from storage.types import utcnow


async def create(*, session: AsyncSession, **fields: Any) -> Draft:
    now = utcnow()
    draft = Draft(id=str(uuid.uuid4()), created_at=now, updated_at=now, **fields)
    session.add(draft)
    await session.flush()
    return draft


async def get(*, session: AsyncSession, draft_id: str) -> Draft | None:
    return await session.get(Draft, draft_id)


async def list_page(
    *,
    session: AsyncSession,
    status: str | None,
    limit: int,
    after: tuple[datetime, str] | None = None,
) -> Sequence[Draft]:
    """Newest first; `after` is the (created_at, id) of the last row of the previous page."""
    query = select(Draft).order_by(Draft.created_at.desc(), Draft.id.desc()).limit(limit)  # type: ignore[attr-defined]
    if status is not None:
        query = query.where(Draft.status == status)
    if after is not None:
        query = query.where(older_than(Draft.created_at, Draft.id, after))
    return (await session.scalars(query)).all()
