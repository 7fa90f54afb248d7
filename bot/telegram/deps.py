"""What the handlers share, kept in the Application's `bot_data` under one typed accessor."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram.ext import ContextTypes

from bot.settings import Settings
from bot.telegram.sender import OutboxSender
from storage.repo.deliveries import Wake

DEPS_KEY = "scopelock"


class Pairing(Protocol):
    """The pairing of this start (bot/telegram/pairing.py), as its handler uses it; a
    protocol, so that module may import this one without a cycle."""

    @property
    def active(self) -> bool: ...

    def matches(self, given: str) -> bool: ...

    async def pair(self, chat_id: int, user_id: int) -> bool: ...


@dataclass(frozen=True)
class BotDeps:
    settings: Settings
    db: async_sessionmaker[AsyncSession]
    sender: OutboxSender
    deliver: Wake | None = None
    """The delivery worker's wake; None: deliveries are off (DELIVERY_WEBHOOK_URL unset)."""
    pairing: Pairing | None = None
    """Set while the service waits for `/start <code>` (no TELEGRAM_CHAT_ID, none paired)."""


def deps(context: ContextTypes.DEFAULT_TYPE) -> BotDeps:
    return context.bot_data[DEPS_KEY]
