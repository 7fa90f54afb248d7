"""Callback data of inline buttons, built and parsed here and nowhere else.

The draft buttons carry `approve:<draft_id>`, `edit:<draft_id>` and `reject:<draft_id>` (the
contract); the "more drafts" button of `/drafts` carries `drafts:<id of the last draft shown>`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, WebAppInfo


class Action(StrEnum):
    APPROVE = "approve"
    EDIT = "edit"
    REJECT = "reject"
    MORE_DRAFTS = "drafts"


DECISIONS = {Action.APPROVE: "approved", Action.REJECT: "rejected"}
"""The draft status each decision button leads to."""

DECISION_PATTERN = rf"^({Action.APPROVE}|{Action.REJECT}):"
EDIT_PATTERN = rf"^{Action.EDIT}:"
MORE_DRAFTS_PATTERN = rf"^{Action.MORE_DRAFTS}:[0-9a-f-]{{36}}$"


@dataclass(frozen=True)
class Callback:
    action: Action
    value: str


def build(action: Action, value: str | int) -> str:
    return f"{action}:{value}"


def parse(data: str | None) -> Callback | None:
    """The button tapped, or None for data this bot never built."""
    action, sep, value = (data or "").partition(":")
    if not sep or not value or action not in Action.__members__.values():
        return None
    return Callback(Action(action), value)


def draft_buttons(draft_id: str) -> list[list[InlineKeyboardButton]]:
    return [
        [
            InlineKeyboardButton("✅ Approve", callback_data=build(Action.APPROVE, draft_id)),
            InlineKeyboardButton("✏️ Edit", callback_data=build(Action.EDIT, draft_id)),
            InlineKeyboardButton("❌ Reject", callback_data=build(Action.REJECT, draft_id)),
        ]
    ]


def draft_markup(draft_id: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(draft_buttons(draft_id))


def draft_keyboard(draft_id: str) -> dict[str, Any]:
    """The same keyboard in the Bot API's JSON form, as the outbox stores it."""
    return draft_markup(draft_id).to_dict()


def with_mini_app(
    keyboard: dict[str, Any], draft_id: str, *, chat_id: int, mini_app_url: str | None
) -> dict[str, Any]:
    """`keyboard` plus a button opening the Mini App's editor on the draft, in a private chat
    (Telegram refuses `web_app` buttons elsewhere) when the Mini App has an https URL."""
    if mini_app_url is None or chat_id <= 0:
        return keyboard
    button = InlineKeyboardButton(
        "📝 Open in editor", web_app=WebAppInfo(f"{mini_app_url}?draft={draft_id}")
    )
    return {"inline_keyboard": [*keyboard["inline_keyboard"], [button.to_dict()]]}


def more_drafts_markup(last_draft_id: str) -> InlineKeyboardMarkup:
    button = InlineKeyboardButton(
        "More drafts ▶", callback_data=build(Action.MORE_DRAFTS, last_draft_id)
    )
    return InlineKeyboardMarkup([[button]])
