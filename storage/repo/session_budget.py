"""The citizens' daily budget: what today's sessions cost, and the sessions held back by it.

"Today" is the operator's day (TIMEZONE). Once today's sessions have cost the budget, queued
sessions wait (`waiting_reason`) until the next day, unless the operator lets one run anyway.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.models import CitizenSession, Event
from storage.repo import events
from storage.types import utcnow

Row = CitizenSession
WAITING_REASON = "daily budget"
EXCEEDED_EVENT = "budget.exceeded@1.0"


def start_of_today(tz: ZoneInfo, now: datetime | None = None) -> datetime:
    """Midnight of the current day in `tz`, in UTC."""
    local = (now or utcnow()).astimezone(tz)
    return datetime.combine(local.date(), time(0), tzinfo=tz).astimezone(UTC)


async def spent_since(*, session: AsyncSession, since: datetime) -> float:
    """What the sessions started since `since` have cost so far."""
    query = select(func.coalesce(func.sum(col(Row.cost_usd)), 0.0)).where(
        col(Row.started_at) >= since
    )
    return float((await session.execute(query)).scalar_one() or 0.0)


async def hold(*, session: AsyncSession) -> None:
    """Mark every queued session as waiting for the budget (not those let through)."""
    await session.execute(
        update(Row)
        .where(
            col(Row.status) == "queued",
            col(Row.run_anyway).is_(False),
            col(Row.waiting_reason).is_(None),
        )
        .values(waiting_reason=WAITING_REASON)
    )


async def release(*, session: AsyncSession) -> None:
    """A new day (or a higher budget): no queued session waits for the budget any more."""
    await session.execute(
        update(Row)
        .where(col(Row.status) == "queued", col(Row.waiting_reason) == WAITING_REASON)
        .values(waiting_reason=None)
    )


async def waiting(*, session: AsyncSession) -> Sequence[CitizenSession]:
    """Sessions the budget holds back, oldest first."""
    query = (
        select(Row)
        .where(col(Row.status) == "queued", col(Row.waiting_reason) == WAITING_REASON)
        .order_by(col(Row.created_at), col(Row.id))
    )
    return (await session.scalars(query)).all()


async def first_today(
    *, session: AsyncSession, since: datetime, spent: float, budget: float
) -> bool:
    """Write `budget.exceeded@1.0` unless it was written since `since`; True when written
    (the caller then tells the operator, once that day)."""
    seen = await session.scalar(
        select(col(Event.id))
        .where(col(Event.event) == EXCEEDED_EVENT, col(Event.timestamp) >= since)
        .limit(1)
    )
    if seen is not None:
        return False
    await events.append(
        session=session,
        event=EXCEEDED_EVENT,
        payload={
            "spent_usd": round(spent, 6),
            "budget_usd": budget,
            "day_start": since.isoformat(),
        },
    )
    return True


async def run_anyway(*, session: AsyncSession, session_id: str) -> CitizenSession | None:
    """Let a queued session past today's budget; None when it is not queued (any more)."""
    row = await session.get(Row, session_id, with_for_update=True)
    if row is None or row.status != "queued":
        return None
    row.run_anyway, row.waiting_reason = True, None
    session.add(row)
    await session.flush()
    return row
