"""Conversation steps: a user's next text in a chat completes the step they started there.

A step is the text awaited after Edit (the new text), Reject (the reason) or Redraft (the
instruction), or the operator's own reply to a thread after Answer. It is keyed by
(chat, user): another member of a group never completes it,
and one user has at most one step per chat (starting another replaces it). Kept in the
database, so a restart between the tap and the text loses nothing. A step not answered within
`STEP_TIMEOUT_S` has ended: `take` removes it and answers None, so a later text is not taken
as its answer.
"""

from __future__ import annotations

from datetime import datetime

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
    *,
    session: AsyncSession,
    chat_id: int,
    user_id: int,
    kind: str,
    draft_id: str | None = None,
    thread_id: str | None = None,
) -> None:
    """Wait for `user_id`'s next text in `chat_id`, replacing any step of theirs there. The
    step is about `draft_id`, or (an answer) about `thread_id`."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    values = {
        "chat_id": chat_id,
        "user_id": user_id,
        "kind": kind,
        "draft_id": draft_id,
        "thread_id": thread_id,
        "prompt_message_id": None,
        "created_at": utcnow(),
    }
    statement = dialect.insert(Step).values(**values)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["chat_id", "user_id"],
            set_={
                key: statement.excluded[key]
                for key in ("kind", "draft_id", "thread_id", "prompt_message_id", "created_at")
            },
        )
    )


async def set_prompt(
    *,
    session: AsyncSession,
    chat_id: int,
    user_id: int,
    message_id: int,
    draft_id: str | None = None,
    thread_id: str | None = None,
) -> None:
    """Remember the bot's question of the step (still the same step), to edit it later."""
    if draft_id is not None:
        same = col(Step.draft_id) == draft_id
    else:
        same = col(Step.thread_id) == thread_id
    await session.execute(
        update(Step).where(_key(chat_id, user_id), same).values(prompt_message_id=message_id)
    )


async def get(*, session: AsyncSession, chat_id: int, user_id: int) -> PendingStep | None:
    return await session.scalar(select(Step).where(_key(chat_id, user_id)))


async def take(
    *, session: AsyncSession, chat_id: int, user_id: int, started_after: datetime
) -> PendingStep | None:
    """The user's step in `chat_id`, removed in the caller's transaction (None if none, or if
    it started before `started_after`: it has ended and is removed all the same).

    Of two concurrent takes exactly one gets the step."""
    result = await session.scalars(delete(Step).where(_key(chat_id, user_id)).returning(Step))
    step = result.one_or_none()
    return step if step is not None and step.created_at >= started_after else None


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
