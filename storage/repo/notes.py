"""The citizens' shared notes."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.models import Note
from storage.types import utcnow


async def add(*, session: AsyncSession, citizen: str, text: str) -> Note:
    note = Note(citizen=citizen, text=text, created_at=utcnow())
    session.add(note)
    await session.flush()
    return note


async def list_page(
    *, session: AsyncSession, limit: int, before_id: int | None = None
) -> Sequence[Note]:
    """Newest first; `before_id` is the last id of the previous page."""
    query = select(Note).order_by(col(Note.id).desc()).limit(limit)
    if before_id is not None:
        query = query.where(col(Note.id) < before_id)
    return (await session.scalars(query)).all()
