"""The append-only event log."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Event
from storage.types import utcnow

_LIKE_ESCAPES = str.maketrans({"\\": "\\\\", "%": "\\%", "_": "\\_"})


@dataclass(frozen=True)
class EventFilter:
    since: datetime | None = None
    until: datetime | None = None
    name: str | None = None
    """An exact event name, or a prefix ending in `*` (`draft.*`)."""


async def append(*, session: AsyncSession, event: str, payload: dict[str, Any]) -> Event:
    """Write one event and return it with its id and timestamp."""
    timestamp = utcnow()
    result = await session.execute(
        insert(Event).values(event=event, timestamp=timestamp, payload=payload).returning(Event.id)
    )
    return Event(id=result.scalar_one(), event=event, timestamp=timestamp, payload=payload)


async def list_page(
    *, session: AsyncSession, where: EventFilter, limit: int, before_id: int | None = None
) -> Sequence[Event]:
    """Newest first; `before_id` is the keyset cursor (the last id of the previous page)."""
    query = select(Event).order_by(Event.id.desc()).limit(limit)  # type: ignore[union-attr]
    if before_id is not None:
        query = query.where(Event.id < before_id)  # type: ignore[operator]
    if where.since is not None:
        query = query.where(Event.timestamp >= where.since)
    if where.until is not None:
        query = query.where(Event.timestamp < where.until)
    if where.name is not None:
        if where.name.endswith("*"):
            prefix = where.name[:-1].translate(_LIKE_ESCAPES)
            query = query.where(Event.event.like(prefix + "%", escape="\\"))  # type: ignore[attr-defined]
        else:
            query = query.where(Event.event == where.name)
    return (await session.scalars(query)).all()
