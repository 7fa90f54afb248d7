"""Telegram `Update` documents as the Bot API would deliver them: taps, texts and commands."""

from __future__ import annotations

import itertools
import time
from typing import Any

OPERATOR_ID = 5550001
"""The operator's user id; tests use it as TELEGRAM_CHAT_ID (their private chat)."""
STRANGER_ID = 5550999

_callback_ids = itertools.count(1)
_message_ids = itertools.count(900_000)


def user(user_id: int, first_name: str = "Nicolas", username: str | None = "nicolas") -> dict:
    person: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
    if username:
        person["username"] = username
    return person


def chat(chat_id: int) -> dict[str, Any]:
    if chat_id > 0:
        return {"id": chat_id, "type": "private", "first_name": "Nicolas"}
    return {"id": chat_id, "type": "supergroup", "title": "Operators"}


def callback_query_update(
    data: str,
    *,
    user_id: int = OPERATOR_ID,
    chat_id: int | None = None,
    message_id: int = 1,
    message_text: str = "draft",
    bot_id: int = 777000,
) -> dict[str, Any]:
    """A tap on an inline button under message `message_id` of `chat_id`."""
    chat_id = user_id if chat_id is None else chat_id
    return {
        "callback_query": {
            "id": f"cq-{next(_callback_ids)}",
            "from": user(user_id),
            "chat_instance": f"ci-{chat_id}",
            "data": data,
            "message": {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": chat(chat_id),
                "from": {"id": bot_id, "is_bot": True, "first_name": "ScopeLock"},
                "text": message_text,
            },
        }
    }


def message_update(
    text: str, *, user_id: int = OPERATOR_ID, chat_id: int | None = None
) -> dict[str, Any]:
    """A text message; one starting with `/` carries the bot_command entity PTB looks for."""
    chat_id = user_id if chat_id is None else chat_id
    message: dict[str, Any] = {
        "message_id": next(_message_ids),
        "date": int(time.time()),
        "chat": chat(chat_id),
        "from": user(user_id),
        "text": text,
    }
    if text.startswith("/"):
        command = text.split()[0]
        message["entities"] = [
            {"type": "bot_command", "offset": 0, "length": len(command.encode("utf-16-le")) // 2}
        ]
    return {"message": message}
