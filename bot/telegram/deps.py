"""What the handlers share, kept in the Application's `bot_data` under one typed accessor."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram.ext import ContextTypes

from bot.settings import Settings
from bot.telegram.sender import OutboxSender
from storage.repo.deliveries import Wake

DEPS_KEY = "scopelock"


@dataclass(frozen=True)
class BotDeps:
    settings: Settings
    db: async_sessionmaker[AsyncSession]
    sender: OutboxSender
    deliver: Wake | None = None
    """The delivery worker's wake; None: deliveries are off (DELIVERY_WEBHOOK_URL unset)."""


def deps(context: ContextTypes.DEFAULT_TYPE) -> BotDeps:
    return context.bot_data[DEPS_KEY]
