"""Who may act: the operator's chat (TELEGRAM_CHAT_ID) and the users of TELEGRAM_ALLOWED_USER_IDS.

The check runs before every other handler; anyone else gets a short refusal and nothing of
theirs reaches a handler that could change something.
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ApplicationHandlerStop, ContextTypes

from bot.settings import Settings
from bot.telegram.deps import deps

log = logging.getLogger(__name__)

REFUSAL = "⛔ Sorry, this bot only takes orders from its operator."


def is_allowed(settings: Settings, update: Update) -> bool:
    chat, user = update.effective_chat, update.effective_user
    operator_chat = settings.telegram_chat_id
    if operator_chat is not None:
        if chat is not None and chat.id == operator_chat:
            return True
        # TELEGRAM_CHAT_ID may be the operator's user id (their private chat with the bot).
        if user is not None and user.id == operator_chat:
            return True
    return user is not None and user.id in settings.telegram_allowed_user_ids


async def refuse_strangers(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Let allowed updates through; refuse everyone else briefly and stop the update there."""
    if not isinstance(update, Update) or is_allowed(deps(context).settings, update):
        return
    chat, user = update.effective_chat, update.effective_user
    log.info(
        "refused update %s from user %s in chat %s",
        update.update_id,
        user.id if user else None,
        chat.id if chat else None,
    )
    if update.callback_query is not None:
        await update.callback_query.answer(REFUSAL)
    elif update.message is not None and chat is not None:
        is_command = bool(update.message.text and update.message.text.startswith("/"))
        # In a group, only answer commands: a refusal under every message would be noise.
        if chat.type == ChatType.PRIVATE or is_command:
            await update.message.reply_text(REFUSAL)
    raise ApplicationHandlerStop
