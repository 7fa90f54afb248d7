"""The messages a bot sent, kept as Telegram keeps them: sent, edited, deleted."""

from __future__ import annotations

import time
from typing import Any

from tests.bot_api_rules import BadRequest, check_message_text, check_reply_markup

BOT_ID = 777000
BOT_USER = {"id": BOT_ID, "is_bot": True, "first_name": "ScopeLock", "username": "scopelock_bot"}

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)


def chat(chat_id: int) -> dict[str, Any]:
    if chat_id > 0:
        return {"id": chat_id, "type": "private", "first_name": "Operator"}
    return {"id": chat_id, "type": "supergroup", "title": "Operators"}


class MessageStore:
    def __init__(self) -> None:
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._next_id = 1
        self.chat = chat
        self.bot_user = BOT_USER

    def next_id(self) -> int:
        """A new message id (photos are built by tests.fake_telegram_photos)."""
        self._next_id += 1
        return self._next_id - 1

    def send(self, params: dict[str, Any]) -> dict[str, Any]:
        """sendMessage: the new message as Telegram answers it (visible text, its id)."""
        chat_id = int(params["chat_id"])
        message = {
            "message_id": self._next_id,
            "date": int(time.time()),
            "chat": chat(chat_id),
            "from": BOT_USER,
            "text": check_message_text(params.get("text"), params.get("parse_mode")),
        }
        markup = check_reply_markup(params.get("reply_markup"), chat_id)
        # A Message carries only an inline keyboard: a ForceReply or a reply keyboard acts on
        # the client and is not echoed (PTB could not parse it as InlineKeyboardMarkup).
        if markup is not None and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        self._next_id += 1
        self.messages[(chat_id, message["message_id"])] = message
        return message

    def edit(self, params: dict[str, Any], *, text: bool) -> dict[str, Any]:
        """editMessageText (`text`) or editMessageReplyMarkup; no markup removes the buttons."""
        key = (int(params.get("chat_id") or 0), int(params.get("message_id") or 0))
        current = self.messages.get(key)
        if current is None:
            raise BadRequest("Bad Request: message to edit not found")
        edited = dict(current)
        if text:
            edited["text"] = check_message_text(params.get("text"), params.get("parse_mode"))
        markup = check_reply_markup(params.get("reply_markup"), key[0])
        edited.pop("reply_markup", None)
        if markup and markup.get("inline_keyboard"):
            edited["reply_markup"] = markup
        if edited == current:
            raise BadRequest(NOT_MODIFIED)
        edited["edit_date"] = int(time.time())
        self.messages[key] = edited
        return edited

    def delete(self, params: dict[str, Any]) -> bool:
        key = (int(params.get("chat_id") or 0), int(params.get("message_id") or 0))
        if self.messages.pop(key, None) is None:
            raise BadRequest("Bad Request: message to delete not found")
        return True
