"""The processes that run citizen sessions, each as it last renewed its heartbeat.

A row is only a sign of life for `/health`: leases live on the sessions themselves.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.models import Worker
from storage.types import utcnow


async def beat(*, session: AsyncSession, worker_id: str, forget_before: datetime) -> None:
    """Renew this worker's heartbeat (creating its row), and forget long-gone workers."""
    now = utcnow()
    renewed = await session.execute(
        update(Worker).where(col(Worker.id) == worker_id).values(heartbeat_at=now)
    )
    if not getattr(renewed, "rowcount", 0):
        session.add(Worker(id=worker_id, started_at=now, heartbeat_at=now))
    await session.execute(delete(Worker).where(col(Worker.heartbeat_at) < forget_before))
    await session.flush()


async def leave(*, session: AsyncSession, worker_id: str) -> None:
    await session.execute(delete(Worker).where(col(Worker.id) == worker_id))


async def count_live(*, session: AsyncSession, since: datetime) -> int:
    query = select(func.count()).where(col(Worker.heartbeat_at) >= since)
    return int((await session.execute(query)).scalar_one())
