"""What a CLI conversation has cost so far, as its sessions recorded it.

Each session records what its own run cost (CONTRACT §7 v3), so a conversation's cost is the
sum over the sessions that reported its id.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.models import CitizenSession as Row


async def spent_before(*, session: AsyncSession, row: Row, claude_session_id: str) -> float:
    """What the other sessions of the conversation `claude_session_id` cost. Only a thread's
    sessions resume a conversation (and the thread's index finds them)."""
    if row.thread_id is None:
        return 0.0
    query = select(func.coalesce(func.sum(col(Row.cost_usd)), 0.0)).where(
        col(Row.thread_id) == row.thread_id,
        col(Row.citizen) == row.citizen,
        col(Row.claude_session_id) == claude_session_id,
        col(Row.id) != row.id,
    )
    return float((await session.execute(query)).scalar_one() or 0.0)
