"""The chat menu button that opens the Mini App, set at start-up for the operator's private
chats (TELEGRAM_CHAT_ID when it is a user, and TELEGRAM_ALLOWED_USER_IDS) when the Mini App
has an https URL; strangers keep Telegram's default menu."""

from __future__ import annotations

import logging

from telegram import Bot, MenuButtonWebApp, WebAppInfo
from telegram.error import BadRequest, Forbidden

from bot.settings import Settings

log = logging.getLogger(__name__)

MENU_TEXT = "Drafts"


def menu_chats(settings: Settings) -> list[int]:
    operator = settings.telegram_chat_id
    chats = [operator] if operator is not None and operator > 0 else []
    return chats + sorted(settings.telegram_allowed_user_ids - set(chats))


async def set_menu_button(bot: Bot, settings: Settings) -> None:
    url = settings.mini_app_url
    if url is None:
        return
    button = MenuButtonWebApp(MENU_TEXT, WebAppInfo(url))
    for chat_id in menu_chats(settings):
        try:
            await bot.set_chat_menu_button(chat_id=chat_id, menu_button=button)
        except (BadRequest, Forbidden) as error:
            # A user who never opened the bot has no chat with it yet.
            log.warning("cannot set the Mini App menu button in chat %s: %s", chat_id, error)
