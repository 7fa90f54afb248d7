"""Conversation steps: a user's next text in a chat completes the step they started there.

A step is the text awaited after Edit (the new text), Reject (the reason) or Redraft (the
instruction). It is keyed by (chat, user): another member of a group never completes it,
and one user has at most one step per chat (starting another replaces it). Kept in the
database, so a restart between the tap and the text loses nothing.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.models import PendingStep
from storage.types import utcnow

Step = PendingStep


def _key(chat_id: int, user_id: int) -> ColumnElement[bool]:
    return (col(Step.chat_id) == chat_id) & (col(Step.user_id) == user_id)


async def start(
    *, session: AsyncSession, chat_id: int, user_id: int, kind: str, draft_id: str
) -> None:
    """Wait for `user_id`'s next text in `chat_id`, replacing any step of theirs there."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    values = {
        "chat_id": chat_id,
        "user_id": user_id,
        "kind": kind,
        "draft_id": draft_id,
        "prompt_message_id": None,
        "created_at": utcnow(),
    }
    statement = dialect.insert(Step).values(**values)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["chat_id", "user_id"],
            set_={
                key: statement.excluded[key]
                for key in ("kind", "draft_id", "prompt_message_id", "created_at")
            },
        )
    )


async def set_prompt(
    *, session: AsyncSession, chat_id: int, user_id: int, draft_id: str, message_id: int
) -> None:
    """Remember the bot's question of the step (still the same step), to edit it later."""
    await session.execute(
        update(Step)
        .where(_key(chat_id, user_id), col(Step.draft_id) == draft_id)
        .values(prompt_message_id=message_id)
    )


async def get(*, session: AsyncSession, chat_id: int, user_id: int) -> PendingStep | None:
    return await session.scalar(select(Step).where(_key(chat_id, user_id)))


async def take(*, session: AsyncSession, chat_id: int, user_id: int) -> PendingStep | None:
    """The user's step in `chat_id`, removed in the caller's transaction (None if none).

    Of two concurrent takes exactly one gets the step."""
    result = await session.scalars(delete(Step).where(_key(chat_id, user_id)).returning(Step))
    return result.one_or_none()


async def take_for_draft(
    *, session: AsyncSession, chat_id: int, user_id: int, draft_id: str, kind: str
) -> PendingStep | None:
    """Take the user's step only if it is this one (a button answering the step's question)."""
    result = await session.scalars(
        delete(Step)
        .where(_key(chat_id, user_id), col(Step.draft_id) == draft_id, col(Step.kind) == kind)
        .returning(Step)
    )
    return result.one_or_none()
