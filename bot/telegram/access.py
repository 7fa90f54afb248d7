"""Who may act (CONTRACT §5): every member of the operator's group, or an allowed user in a
private chat with the bot.

TELEGRAM_CHAT_ID is the operator: a group (every member acts there) or a user id (that user
is allowed). TELEGRAM_ALLOWED_USER_IDS adds users. An allowed user acts only in their private
chat with the bot, never from another group. The check runs before every other handler;
anyone else gets a short refusal that names their chat id (so it can become TELEGRAM_CHAT_ID),
and nothing of theirs reaches a handler that could change something. Updates other than a new
message or a button tap (edited messages, channel posts, inline queries, ...) change nothing.
"""

from __future__ import annotations

import logging

from telegram import Chat, Update, User
from telegram.constants import ChatType
from telegram.ext import ApplicationHandlerStop, ContextTypes

from bot.settings import Settings
from bot.telegram.deps import deps

log = logging.getLogger(__name__)

GROUPS = (ChatType.GROUP, ChatType.SUPERGROUP)


def refusal(chat_id: int | None) -> str:
    """The stranger's answer, as plain text (a callback answer takes no HTML)."""
    refused = "⛔ Sorry, this bot only takes orders from its operator."
    return refused if chat_id is None else f"{refused} This chat's id is {chat_id}."


def allowed_users(settings: Settings) -> frozenset[int]:
    """TELEGRAM_ALLOWED_USER_IDS, plus TELEGRAM_CHAT_ID when it is a user (a positive id)."""
    operator = settings.telegram_chat_id
    users = settings.telegram_allowed_user_ids
    return users | {operator} if operator is not None and operator > 0 else users


def may_act(settings: Settings, chat: Chat | None, user: User | None) -> bool:
    if chat is None or user is None:
        return False
    if chat.type in GROUPS:
        return chat.id == settings.telegram_chat_id
    return chat.type == ChatType.PRIVATE and user.id in allowed_users(settings)


async def refuse_strangers(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Let the allowed messages and taps through; stop everything else here."""
    if not isinstance(update, Update):
        return
    if update.message is None and update.callback_query is None:
        # Edited messages, channel posts, inline queries, ...: nothing to act on, no answer.
        log.info("ignored update %s: neither a new message nor a tap", update.update_id)
        raise ApplicationHandlerStop
    chat, user = update.effective_chat, update.effective_user
    if may_act(deps(context).settings, chat, user):
        return
    chat_id = chat.id if chat is not None else None
    log.info(
        "refused update %s from user %s in chat %s",
        update.update_id,
        user.id if user else None,
        chat_id,
    )
    if update.callback_query is not None:
        await update.callback_query.answer(refusal(chat_id))
    elif update.message is not None and chat is not None:
        await update.message.reply_text(refusal(chat.id), parse_mode=None)
    raise ApplicationHandlerStop
