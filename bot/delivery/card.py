"""What the draft's card says about its delivery.

`delivery_status_line` is the line itself (bot/telegram/cards.py puts it on the approved card,
with the `redeliver:<draft_id>` button once it failed); bot/telegram/card_upkeep.py's
`show_delivery_on_card` queues the edits of every copy of the card.
"""

from __future__ import annotations

from telegram import InlineKeyboardButton

from bot.telegram import render
from storage.models import Delivery

REDELIVER = "redeliver"
REASON_SHOWN = 200
REDELIVER_PATTERN = rf"^{REDELIVER}:[0-9a-f-]{{36}}$"


def delivery_status_line(delivery: Delivery) -> str:
    """One line of Telegram HTML: delivering, delivered, retrying (why, when) or given up."""
    if delivery.status == "succeeded":
        return f"✅ <b>Delivered</b> {render.when(delivery.finished_at)}"
    reason = render.esc(render.cut(failure_reason(delivery), REASON_SHOWN))
    if delivery.status == "failed":
        return f"❌ <b>Not delivered</b>: {reason}"
    if delivery.attempts == 0:
        return "📤 <b>Delivering…</b>"
    return (
        f"⚠️ <b>Delivery failed</b>: {reason} — retrying at {render.when(delivery.next_attempt_at)}"
    )


def failure_reason(delivery: Delivery) -> str:
    if delivery.last_error:
        return delivery.last_error
    if delivery.last_status is not None:
        return f"HTTP {delivery.last_status}"
    return "no answer"


def redeliver_data(draft_id: str) -> str:
    return f"{REDELIVER}:{draft_id}"


def redeliver_button(draft_id: str) -> InlineKeyboardButton:
    return InlineKeyboardButton("🔁 Deliver again", callback_data=redeliver_data(draft_id))
