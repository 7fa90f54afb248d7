"""Approve and Reject taps: one decision per draft, whatever the number of taps.

The conditional UPDATE (`... WHERE status = 'pending'`) lets exactly one of many concurrent taps
change the draft; only that one writes the event, in the same transaction. Every tap gets its
callback answered at once, and the card is edited to show the decision without buttons (a late
tap on a card that still shows buttons repairs it).
"""

from __future__ import annotations

import logging
import uuid

from telegram import CallbackQuery, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import ContextTypes

from bot.delivery.card import show_delivery_on_card
from bot.telegram import callbacks, render
from bot.telegram.deps import deps
from storage.models import Draft
from storage.repo import draft_actions

log = logging.getLogger(__name__)

UNKNOWN_DRAFT = "This draft does not exist (any more)."
NOT_SAVED = "⚠️ That could not be saved just now; please tap again."


def draft_id_of(query: CallbackQuery) -> str | None:
    """The draft id a button carries, if it is one this bot could have built."""
    parsed = callbacks.parse(query.data)
    if parsed is None:
        return None
    try:
        return str(uuid.UUID(parsed.value))
    except ValueError:
        return None


async def decide_draft(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`approve:<id>` / `reject:<id>`: record the decision once and show it on the card."""
    query = update.callback_query
    assert query is not None
    parsed = callbacks.parse(query.data)
    draft_id = draft_id_of(query)
    if parsed is None or draft_id is None:
        await query.answer(UNKNOWN_DRAFT)
        return
    status = callbacks.DECISIONS[parsed.action]
    actor = draft_actions.Actor(query.from_user.id, query.from_user.full_name)
    delivering = False
    try:
        async with deps(context).db() as session, session.begin():
            outcome = await draft_actions.decide(
                session=session, draft_id=draft_id, status=status, actor=actor
            )
            current = outcome.draft
            if current is not None and current.status in ("approved", "sent"):
                # With a delivery, the card shows it; its edits go through the outbox, in order.
                delivering = await show_delivery_on_card(
                    session=session, settings=deps(context).settings, draft_id=draft_id
                )
    except Exception:
        await query.answer(NOT_SAVED)
        raise
    current = outcome.draft
    if current is None:
        await query.answer(UNKNOWN_DRAFT)
        return
    if outcome.changed:
        await query.answer("✅ Approved" if status == "approved" else "❌ Rejected")
    elif current.status == status:
        await query.answer(f"Already {status}.")
    else:
        await query.answer(
            f"Already {current.status}: it cannot be {status} now.", show_alert=True
        )
    if delivering:
        deps(context).sender.kick()
    tapped = query.message.message_id if query.message is not None else None
    if not delivering or tapped != current.telegram_message_id:
        await show_decision(query, current)


async def show_decision(query: CallbackQuery, draft: Draft) -> None:
    """Edit the tapped card to show who decided and when, without buttons."""
    if draft.status == "pending":
        return
    user = query.from_user if query.from_user.id == draft.decided_by else None
    footer = render.decision_footer(
        draft.status, render.who(user, draft.decided_by), draft.decided_at
    )
    try:
        await query.edit_message_text(render.draft_card(draft, title="Draft", footer=footer))
    except BadRequest as error:
        if "not modified" not in str(error).lower():
            log.warning("could not show the decision on draft %s: %s", draft.id, error)
    except TelegramError as error:
        # The decision is stored; a later tap on this card repairs it.
        log.warning("could not show the decision on draft %s: %s", draft.id, error)
