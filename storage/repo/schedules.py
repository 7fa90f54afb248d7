"""Schedules: create, list, delete, and the conditional claim that fires a due one once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Schedule


async def create(
    *,
    session: AsyncSession,
    citizen: str,
    cron: str,
    message: str,
    created_at: datetime,
    next_run_at: datetime,
) -> Schedule:
    row = Schedule(
        citizen=citizen,
        cron=cron,
        message=message,
        created_at=created_at,
        next_run_at=next_run_at,
    )
    session.add(row)
    await session.flush()
    return row


async def list_all(*, session: AsyncSession) -> Sequence[Schedule]:
    """Every schedule, oldest first."""
    return (await session.scalars(select(Schedule).order_by(Schedule.id))).all()  # type: ignore[arg-type]


async def remove(*, session: AsyncSession, schedule_id: int) -> bool:
    """Delete one schedule; False when there is none with that id."""
    result = await session.execute(delete(Schedule).where(Schedule.id == schedule_id))  # type: ignore[arg-type]
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def due(*, session: AsyncSession, now: datetime, limit: int = 100) -> Sequence[Schedule]:
    """Schedules whose next time has come, the most overdue first."""
    query = (
        select(Schedule)
        .where(Schedule.next_run_at <= now)  # type: ignore[arg-type]
        .order_by(Schedule.next_run_at, Schedule.id)  # type: ignore[arg-type]
        .limit(limit)
    )
    return (await session.scalars(query)).all()


async def earliest(*, session: AsyncSession) -> datetime | None:
    """The soonest next time of any schedule."""
    column = Schedule.__table__.c.next_run_at
    return await session.scalar(select(column).order_by(column).limit(1))


async def claim(
    *,
    session: AsyncSession,
    schedule_id: int,
    seen_next_run_at: datetime,
    next_run_at: datetime,
    fired_at: datetime | None,
) -> bool:
    """Move a schedule on from the time this process saw; False when another got there first.

    The test of `next_run_at` is in the UPDATE itself: of several processes claiming one due
    time, exactly one changes the row (PostgreSQL re-checks it after the winner commits).
    """
    values: dict[str, object] = {"next_run_at": next_run_at}
    if fired_at is not None:
        values["last_fired_at"] = fired_at
    result = await session.execute(
        update(Schedule)
        .where(Schedule.id == schedule_id, Schedule.next_run_at == seen_next_run_at)  # type: ignore[arg-type]
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


async def record_session(*, session: AsyncSession, schedule_id: int, session_id: str) -> None:
    await session.execute(
        update(Schedule)
        .where(Schedule.id == schedule_id)  # type: ignore[arg-type]
        .values(last_session_id=session_id)
        .execution_options(synchronize_session=False)
    )
