"""The daily digest's one row per day: whoever inserts it sends that day's digest."""

from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Digest
from storage.types import utcnow


async def claim(*, session: AsyncSession, day: str) -> bool:
    """True when this call took `day` (YYYY-MM-DD); False when it was taken already."""
    insert = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
    result = await session.execute(
        insert(Digest)
        .values(day=day, sent_at=utcnow())
        .on_conflict_do_nothing(index_elements=["day"])
        .returning(Digest.day)
    )
    return result.scalar_one_or_none() is not None
