"""Edits started in a chat: the next text message of the user who started one is the new text.

Kept in the database rather than in memory so that a restart between the `edit:` tap and the
operator's message loses nothing. An edit belongs to one user in one chat (both make the key):
in a group, another member's message never completes it.
"""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.models import PendingEdit
from storage.types import utcnow


async def start(*, session: AsyncSession, chat_id: int, user_id: int, draft_id: str) -> None:
    """Wait for `user_id`'s new text of `draft_id` in `chat_id`, replacing their earlier edit."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    values = {"chat_id": chat_id, "draft_id": draft_id, "user_id": user_id, "created_at": utcnow()}
    statement = dialect.insert(PendingEdit).values(**values)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["chat_id", "user_id"],
            set_={key: statement.excluded[key] for key in ("draft_id", "created_at")},
        )
    )


async def take(*, session: AsyncSession, chat_id: int, user_id: int) -> PendingEdit | None:
    """`user_id`'s edit pending in `chat_id`, removed in the caller's transaction, or None."""
    result = await session.scalars(
        delete(PendingEdit)
        .where(col(PendingEdit.chat_id) == chat_id, col(PendingEdit.user_id) == user_id)
        .returning(PendingEdit)
    )
    return result.one_or_none()


async def cancel(*, session: AsyncSession, chat_id: int, user_id: int) -> bool:
    """Drop `user_id`'s edit pending in `chat_id`; False when there was none."""
    return await take(session=session, chat_id=chat_id, user_id=user_id) is not None
