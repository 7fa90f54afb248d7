"""Pairing (CONTRACT §15): without TELEGRAM_CHAT_ID, the first private chat that sends
`/start <code>` (the code logged at start-up) becomes the operator, stored in the database.

The service's Settings are its own copy (`bot.service.serve` made it), and pairing writes the
chat into it: every part that reads `telegram_chat_id` (cards, notices, the operator's day,
who may act, the Mini App) finds the operator at once, with no second place to look.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ApplicationHandlerStop, ContextTypes

from bot.settings import Settings
from bot.telegram.deps import deps
from storage.repo import operator_pairing

log = logging.getLogger(__name__)

# No 0/O or 1/I/L: the code is read from a log and typed on a phone.
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 10

PAIRED = (
    "✅ <b>Paired.</b> This chat is now ScopeLock's operator: new drafts arrive here with "
    "their buttons. /help lists the commands."
)


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


class Pairing:
    """The code of this start, and the one way a chat becomes the operator by it."""

    def __init__(
        self,
        settings: Settings,
        db: async_sessionmaker[AsyncSession],
        on_paired: Callable[[], Awaitable[None]],
    ) -> None:
        self.code = new_code()
        self._settings = settings
        self._db = db
        self._on_paired = on_paired

    @property
    def active(self) -> bool:
        return self._settings.telegram_chat_id is None

    def matches(self, given: str) -> bool:
        # Case folded: a phone keyboard may capitalise or not.
        return hmac.compare_digest(given.strip().upper().encode(), self.code.encode())

    async def pair(self, chat_id: int, user_id: int) -> bool:
        """Make `chat_id` the operator; False when another chat was paired first."""
        async with self._db() as session, session.begin():
            operator = await operator_pairing.pair(
                session=session, chat_id=chat_id, user_id=user_id
            )
        if operator != chat_id:
            return False
        self._settings.telegram_chat_id = chat_id
        log.info("paired: chat %s is the operator chat", chat_id)
        try:
            await self._on_paired()
        except Exception:  # the pairing holds; the menu and backlog come at the next start
            log.exception("after pairing: could not set the menu or queue the waiting cards")
        return True


async def pair_operator(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`/start <code>` in a private chat while pairing: that chat becomes the operator.

    Anything else goes on to the access check (a stranger's refusal names their chat id).
    """
    pairing = deps(context).pairing
    message, chat, user = update.message, update.effective_chat, update.effective_user
    if pairing is None or not pairing.active or message is None or chat is None or user is None:
        return
    if chat.type != ChatType.PRIVATE or len(context.args or []) != 1:
        return
    if not pairing.matches((context.args or [""])[0]) or not await pairing.pair(chat.id, user.id):
        return
    await message.reply_text(PAIRED)
    raise ApplicationHandlerStop
