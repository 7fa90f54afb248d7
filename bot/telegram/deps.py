"""What the handlers share, kept in the Application's `bot_data` under one typed accessor."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram.ext import ContextTypes

from bot.settings import Settings
from bot.telegram.sender import OutboxSender

if TYPE_CHECKING:
    from bot.telegram.pairing import Pairing

DEPS_KEY = "scopelock"


@dataclass(frozen=True)
class BotDeps:
    settings: Settings
    db: async_sessionmaker[AsyncSession]
    sender: OutboxSender
    pairing: Pairing | None = None
    """Set while the service waits for `/start <code>` (no TELEGRAM_CHAT_ID, none paired)."""


def deps(context: ContextTypes.DEFAULT_TYPE) -> BotDeps:
    return context.bot_data[DEPS_KEY]
