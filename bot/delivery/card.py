"""What the draft's card says about its delivery, and the one call that puts it there.

`delivery_status_line` is the line itself (bot/telegram/cards.py puts it on the approved card,
with the `redeliver:<draft_id>` button once it failed); `show_delivery_on_card` queues, in the
caller's transaction and through the durable outbox, the edits of every copy of the card.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import InlineKeyboardButton

from bot.settings import Settings
from bot.telegram import render
from storage.models import Delivery, Draft

REDELIVER = "redeliver"
REDELIVER_PATTERN = rf"^{REDELIVER}:[0-9a-f-]{{36}}$"


def delivery_status_line(delivery: Delivery) -> str:
    """One line of Telegram HTML: delivering, delivered, retrying (why, when) or given up."""
    if delivery.status == "succeeded":
        return f"✅ <b>Delivered</b> {render.when(delivery.finished_at)}"
    reason = render.esc(failure_reason(delivery))
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


async def show_delivery_on_card(
    *, session: AsyncSession, settings: Settings, draft_id: str
) -> bool:
    """Queue the edits that show the draft's latest delivery on every copy of its card
    (bot/telegram/cards.py says what a card shows); False when there is none to edit.

    Call `kick()` of the Telegram notifier after the commit so the edits go out at once.
    """
    from bot.telegram import cards  # cards shows deliveries: imported here, not at the top

    if not settings.telegram_enabled:
        return False
    draft = await session.get(Draft, draft_id)
    if draft is None:
        return False
    return await cards.queue_refresh(session=session, settings=settings, draft=draft) > 0
