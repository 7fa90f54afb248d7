"""Cards that fell behind their draft: drafts stored while the bot was off get their card at
start, and a card sent after its draft was decided is brought up to date at once."""

from __future__ import annotations

import logging

from sqlalchemy import exists, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from bot.settings import Settings
from bot.telegram import cards
from storage.models import Draft, OutboxMessage
from storage.repo import drafts

log = logging.getLogger(__name__)

# Any constant will do, as long as nothing else takes the same advisory lock.
BACKLOG_LOCK_KEY = 0x5C0_9E10C_CA4D
BACKLOG_LIMIT = 200


async def queue_missing_cards(db: async_sessionmaker[AsyncSession], settings: Settings) -> int:
    """Queue a card for every pending draft that has none, sent or queued; returns how many.

    Two instances starting together on one PostgreSQL take turns (an advisory lock), so
    each draft gets one card.
    """
    if settings.telegram_chat_id is None:
        return 0
    async with db() as session, session.begin():
        if session.get_bind().dialect.name == "postgresql":
            await session.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": BACKLOG_LOCK_KEY}
            )
        carded = exists().where(col(OutboxMessage.draft_id) == col(Draft.id))
        missing = (
            await session.scalars(
                select(Draft)
                .where(
                    col(Draft.status) == "pending",
                    col(Draft.telegram_message_id).is_(None),
                    ~carded,
                )
                .order_by(col(Draft.created_at), col(Draft.id))
                .limit(BACKLOG_LIMIT)
            )
        ).all()
        for draft in missing:
            await cards.queue_card(
                session=session, settings=settings, draft=draft, chat_id=settings.telegram_chat_id
            )
    if missing:
        log.info("queued the cards of %d drafts stored while the bot was off", len(missing))
    return len(missing)


async def refresh(db: async_sessionmaker[AsyncSession], settings: Settings, draft_id: str) -> None:
    """Bring every message showing the draft to its state now (its own transaction)."""
    async with db() as session, session.begin():
        draft = await drafts.get(session=session, draft_id=draft_id)
        if draft is not None:
            await cards.queue_refresh(session=session, settings=settings, draft=draft)


async def show_delivery_on_card(
    *, session: AsyncSession, settings: Settings, draft_id: str
) -> bool:
    """Queue the edits that show the draft's latest delivery on every copy of its card
    (bot/telegram/cards.py says what a card shows); False when there is none to edit.

    Call `kick()` of the Telegram notifier after the commit so the edits go out at once.
    """
    if not settings.telegram_enabled:
        return False
    draft = await session.get(Draft, draft_id)
    if draft is None:
        return False
    return await cards.queue_refresh(session=session, settings=settings, draft=draft) > 0
