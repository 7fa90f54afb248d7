"""Callback data of inline buttons, built and parsed here and nowhere else.

The draft buttons carry `approve:<draft_id>`, `edit:<draft_id>`, `reject:<draft_id>`,
`redraft:<draft_id>` and, once approved, `sent:<draft_id>` (the contract); a reason offered
after a rejection carries `why:<draft_id>:<n>` (n indexes `REJECT_REASONS`); the "more
drafts" button of `/drafts` carries `drafts:<id of the last draft shown>`; a client left
waiting offers `retry:<thread_id>` and `answer:<thread_id>` (built in
citizens/thread_notices.py, which the session runner uses). All stay within
Telegram's 64 bytes (`why:` + a uuid + `:n` is 42).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, WebAppInfo

from citizens import thread_notices


class Action(StrEnum):
    APPROVE = "approve"
    EDIT = "edit"
    REJECT = "reject"
    REDRAFT = "redraft"
    SENT = "sent"
    WHY = "why"
    MORE_DRAFTS = "drafts"
    PROPOSE = "propose"
    LEAD_SENT = "lead_sent"
    LEAD_SKIP = "lead_skip"
    RETRY = thread_notices.RETRY
    ANSWER = thread_notices.ANSWER


DECISIONS = {Action.APPROVE: "approved", Action.REJECT: "rejected"}
"""The draft status each decision button leads to."""

DECISION_PATTERN = rf"^({Action.APPROVE}|{Action.REJECT}):"
EDIT_PATTERN = rf"^{Action.EDIT}:"
REDRAFT_PATTERN = rf"^{Action.REDRAFT}:"
SENT_PATTERN = rf"^{Action.SENT}:"
WHY_PATTERN = rf"^{Action.WHY}:"

REJECT_REASONS = ("Too long", "Wrong tone", "Wrong facts", "Not now")
"""The reasons offered as buttons after a rejection (any other can be typed)."""
MORE_DRAFTS_PATTERN = rf"^{Action.MORE_DRAFTS}:[0-9a-f-]{{36}}$"
THREAD_PATTERN = rf"^({Action.RETRY}|{Action.ANSWER}):[0-9a-f-]{{36}}$"
LEAD_PATTERN = rf"^({Action.PROPOSE}|{Action.LEAD_SENT}|{Action.LEAD_SKIP}):[0-9]{{1,18}}$"


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


def uuid_value(data: str | None) -> str | None:
    """The draft or thread id a button carries, if it is one this bot could have built."""
    parsed = parse(data)
    if parsed is None:
        return None
    try:
        return str(uuid.UUID(parsed.value))
    except ValueError:
        return None


def draft_buttons(draft_id: str) -> list[list[InlineKeyboardButton]]:
    return [
        [
            InlineKeyboardButton("✅ Approve", callback_data=build(Action.APPROVE, draft_id)),
            InlineKeyboardButton("✏️ Edit", callback_data=build(Action.EDIT, draft_id)),
        ],
        [
            InlineKeyboardButton("🔁 Redraft", callback_data=build(Action.REDRAFT, draft_id)),
            InlineKeyboardButton("❌ Reject", callback_data=build(Action.REJECT, draft_id)),
        ],
    ]


def sent_buttons(draft_id: str) -> list[InlineKeyboardButton]:
    return [InlineKeyboardButton("📤 Mark as sent", callback_data=build(Action.SENT, draft_id))]


def reason_markup(draft_id: str) -> InlineKeyboardMarkup:
    """The preset reasons for rejecting `draft_id`, two per row."""
    buttons = [
        InlineKeyboardButton(reason, callback_data=build(Action.WHY, f"{draft_id}:{n}"))
        for n, reason in enumerate(REJECT_REASONS)
    ]
    return InlineKeyboardMarkup([buttons[i : i + 2] for i in range(0, len(buttons), 2)])


def parse_reason(value: str) -> tuple[str, str] | None:
    """`<draft_id>:<n>` of a reason button as (draft_id, reason); None if it is not one."""
    draft_id, _, number = value.rpartition(":")
    if not number.isdigit() or int(number) >= len(REJECT_REASONS):
        return None
    return draft_id, REJECT_REASONS[int(number)]


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


def lead_keyboard(lead_id: int, *, propose: bool = True) -> dict[str, Any]:
    """A GO lead's buttons, in the Bot API's JSON form; `propose`: with ✍️ Propose (not while
    a proposal is being written or waits on its card)."""
    buttons = [
        InlineKeyboardButton("✍️ Propose", callback_data=build(Action.PROPOSE, lead_id)),
        InlineKeyboardButton("📨 Sent", callback_data=build(Action.LEAD_SENT, lead_id)),
        InlineKeyboardButton("⏭ Skip", callback_data=build(Action.LEAD_SKIP, lead_id)),
    ]
    return InlineKeyboardMarkup([buttons if propose else buttons[1:]]).to_dict()
