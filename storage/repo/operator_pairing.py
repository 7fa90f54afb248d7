"""The paired operator chat (CONTRACT §15): read at start-up, written once by `/start <code>`."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import OperatorPairing
from storage.types import utcnow


async def paired_chat_id(*, session: AsyncSession) -> int | None:
    return await session.scalar(select(OperatorPairing.chat_id))  # type: ignore[call-overload]


async def pair(*, session: AsyncSession, chat_id: int, user_id: int) -> int:
    """Pair `chat_id` unless a chat already is; returns the operator chat that holds now."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    values = {"id": 1, "chat_id": chat_id, "user_id": user_id, "paired_at": utcnow()}
    await session.execute(
        insert(OperatorPairing).values(**values).on_conflict_do_nothing(index_elements=["id"])
    )
    paired = await paired_chat_id(session=session)
    assert paired is not None
    return paired
