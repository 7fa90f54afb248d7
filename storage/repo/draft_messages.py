"""The Telegram messages that show a draft: its card, `/drafts` copies, an edited version.

Every one of them is edited whenever the draft changes (bot/telegram/cards.py), so a copy
never offers buttons for a draft that is no longer pending. The sender records a message
here when it marks a card sent (storage/repo/outbox.py `mark_sent`).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.models import DraftMessage
from storage.types import utcnow


async def record(*, session: AsyncSession, chat_id: int, message_id: int, draft_id: str) -> None:
    """Remember that `message_id` of `chat_id` shows `draft_id` (once, however often told)."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    await session.execute(
        dialect.insert(DraftMessage)
        .values(chat_id=chat_id, message_id=message_id, draft_id=draft_id, created_at=utcnow())
        .on_conflict_do_nothing()
    )


async def of_draft(*, session: AsyncSession, draft_id: str) -> list[tuple[int, int]]:
    """(chat_id, message_id) of every message showing the draft, oldest first."""
    rows = await session.execute(
        select(col(DraftMessage.chat_id), col(DraftMessage.message_id))
        .where(col(DraftMessage.draft_id) == draft_id)
        .order_by(col(DraftMessage.created_at), col(DraftMessage.message_id))
    )
    return [(int(chat), int(message)) for chat, message in rows.all()]
