"""Edits the operator started in a chat: the next text message there is the draft's new text.

Kept in the database rather than in memory so that a restart between the `edit:` tap and the
operator's message loses nothing.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.models import PendingEdit
from storage.types import utcnow


async def start(*, session: AsyncSession, chat_id: int, draft_id: str, user_id: int) -> None:
    """Wait for the new text of `draft_id` in `chat_id`, replacing any edit pending there."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    values = {"chat_id": chat_id, "draft_id": draft_id, "user_id": user_id, "created_at": utcnow()}
    statement = dialect.insert(PendingEdit).values(**values)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["chat_id"],
            set_={key: statement.excluded[key] for key in ("draft_id", "user_id", "created_at")},
        )
    )


async def take(*, session: AsyncSession, chat_id: int) -> PendingEdit | None:
    """The edit pending in `chat_id`, removed in the caller's transaction (None if none)."""
    result = await session.scalars(
        delete(PendingEdit).where(col(PendingEdit.chat_id) == chat_id).returning(PendingEdit)
    )
    return result.one_or_none()


async def get(*, session: AsyncSession, chat_id: int) -> PendingEdit | None:
    return await session.scalar(select(PendingEdit).where(col(PendingEdit.chat_id) == chat_id))


async def cancel(*, session: AsyncSession, chat_id: int) -> bool:
    """Drop the edit pending in `chat_id`; False when there was none."""
    return await take(session=session, chat_id=chat_id) is not None
