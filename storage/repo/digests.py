"""The daily digest's one row per day: whoever inserts it sends that day's digest."""

from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.models import Digest
from storage.types import utcnow


async def claim(*, session: AsyncSession, day: str) -> bool:
    """True when this call took `day` (YYYY-MM-DD); False when it was taken already."""
    postgres = session.get_bind().dialect.name == "postgresql"
    statement = (pg_insert if postgres else sqlite_insert)(Digest).values(
        day=day, sent_at=utcnow()
    )
    result = await session.execute(
        statement.on_conflict_do_nothing(index_elements=["day"]).returning(col(Digest.day))
    )
    return result.scalar_one_or_none() is not None
