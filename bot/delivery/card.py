"""What the draft's card says about its delivery, and the one call that puts it there.

`delivery_status_line` is the line itself; `show_delivery_on_card` queues (in the caller's
transaction, through the durable outbox) an edit of the draft's card in the operator's chat:
the approved card with that line, and the `redeliver:<draft_id>` button once it failed.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.settings import Settings
from bot.telegram import render
from storage.models import Delivery, Draft, Event
from storage.repo import deliveries, outbox

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


def redeliver_keyboard(draft_id: str) -> dict[str, Any]:
    button = InlineKeyboardButton("🔁 Deliver again", callback_data=redeliver_data(draft_id))
    return InlineKeyboardMarkup([[button]]).to_dict()


async def show_delivery_on_card(
    *, session: AsyncSession, settings: Settings, draft_id: str
) -> bool:
    """Queue the edit of the draft's card that shows its latest delivery; False when there is
    no card to edit (Telegram off, the card not sent yet) or no delivery.

    Call `kick()` of the Telegram notifier after the commit so the edit goes out at once.
    """
    chat_id = settings.telegram_chat_id if settings.telegram_enabled else None
    draft = await session.get(Draft, draft_id)
    if chat_id is None or draft is None or draft.telegram_message_id is None:
        return False
    delivery = await deliveries.latest(session=session, draft_id=draft_id)
    if delivery is None:
        return False
    actor = render.who(None, draft.decided_by)
    name = await _approver_name(session, draft)
    if name is not None:
        actor = f'<a href="tg://user?id={draft.decided_by}">{render.esc(name)}</a>'
    footer = render.decision_footer("approved", actor, draft.decided_at)
    footer += "\n" + delivery_status_line(delivery)
    await outbox.enqueue(
        session=session,
        chat_id=chat_id,
        text=render.draft_card(draft, title="Draft", footer=footer),
        reply_markup=redeliver_keyboard(draft_id) if delivery.status == "failed" else None,
        edit_message_id=draft.telegram_message_id,
    )
    return True


async def _approver_name(session: AsyncSession, draft: Draft) -> str | None:
    """The approver's name as the approval recorded it (the draft keeps only the user id)."""
    if draft.decided_at is None:
        return None
    rows = await session.scalars(
        select(Event)
        .where(
            Event.event == "draft.approved@1.0",  # type: ignore[arg-type]
            Event.timestamp >= draft.decided_at - timedelta(minutes=1),  # type: ignore[arg-type]
        )
        .order_by(Event.id)  # type: ignore[arg-type]
        .limit(100)
    )
    for row in rows:
        if row.payload.get("draft_id") == draft.id:
            name = row.payload.get("decided_by_name")
            return name if isinstance(name, str) else None
    return None
