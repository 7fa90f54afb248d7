"""The `redeliver:<draft_id>` button: a delivery that failed for good is queued afresh."""

from __future__ import annotations

import uuid

from telegram import Update
from telegram.ext import CallbackQueryHandler, ContextTypes

from bot.delivery.card import REDELIVER_PATTERN
from bot.telegram.card_upkeep import show_delivery_on_card
from bot.telegram.deps import deps
from storage.models import Draft
from storage.repo import deliveries

NOT_ON = "Delivery is not configured (DELIVERY_WEBHOOK_URL is not set)."


def redeliver_handler() -> CallbackQueryHandler[ContextTypes.DEFAULT_TYPE, None]:
    return CallbackQueryHandler(redeliver_draft, pattern=REDELIVER_PATTERN)


async def redeliver_draft(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Queue a new delivery (a new `webhook-id`, another day of retries) of a failed one."""
    query = update.callback_query
    assert query is not None
    draft_id = str(uuid.UUID((query.data or "").partition(":")[2]))
    bot = deps(context)
    if bot.deliver is None:
        await query.answer(NOT_ON, show_alert=True)
        return
    async with bot.db() as session, session.begin():
        before = await deliveries.latest(session=session, draft_id=draft_id)
        draft = await session.get(Draft, draft_id)
        if draft is not None and draft.status == "sent":
            answer = "Already sent."
        elif before is None or before.status != "failed":
            answer = "Nothing to deliver again." if before is None else _already(before.status)
        else:
            await deliveries.queue_delivery(session=session, draft_id=draft_id, wake=bot.deliver)
            after = await deliveries.latest(session=session, draft_id=draft_id)
            queued = after is not None and after.id != before.id
            answer = "📤 Delivering again…" if queued else NOT_ON
            if queued:
                await show_delivery_on_card(
                    session=session, settings=bot.settings, draft_id=draft_id
                )
    bot.sender.kick()
    await query.answer(answer)


def _already(status: str) -> str:
    return "Already delivered." if status == "succeeded" else "Already being delivered."
