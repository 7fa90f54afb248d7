"""Approve, Reject and Mark as sent taps: one change per draft, whatever the number of taps.

The conditional UPDATE (`... WHERE status = 'pending'`) lets exactly one of many concurrent taps
change the draft; only that one writes the event and queues the edits of every message showing
the draft (bot/telegram/cards.py), in the same transaction. Every tap gets its callback
answered at once; a late tap on a copy that still shows buttons repairs that copy. A
rejection then asks why (bot/telegram/steps.py).
"""

from __future__ import annotations

import logging

from telegram import CallbackQuery, Update
from telegram.ext import ContextTypes

from bot.telegram import callbacks, cards, steps, whole_text
from bot.telegram.deps import deps
from bot.telegram.topics import tapped_topic
from storage.repo import draft_actions

log = logging.getLogger(__name__)

UNKNOWN_DRAFT = "This draft does not exist (any more)."
NOT_SAVED = "⚠️ That could not be saved just now; please tap again."


def draft_id_of(query: CallbackQuery) -> str | None:
    """The draft id a button carries, if it is one this bot could have built."""
    return callbacks.uuid_value(query.data)


def actor_of(query: CallbackQuery) -> draft_actions.Actor:
    return draft_actions.Actor(query.from_user.id, query.from_user.full_name)


def tapped(query: CallbackQuery) -> tuple[int, int] | None:
    """(chat_id, message_id) of the message whose button was tapped, when Telegram says."""
    message = query.message
    return None if message is None else (message.chat.id, message.message_id)


async def decide_draft(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`approve:<id>` / `reject:<id>`: record the decision once and show it on every copy."""
    query = update.callback_query
    assert query is not None
    parsed = callbacks.parse(query.data)
    draft_id = draft_id_of(query)
    if parsed is None or draft_id is None:
        await query.answer(UNKNOWN_DRAFT)
        return
    status = callbacks.DECISIONS[parsed.action]
    bot = deps(context)
    try:
        async with bot.db() as session, session.begin():
            outcome = await draft_actions.decide(
                session=session,
                draft_id=draft_id,
                status=status,
                actor=actor_of(query),
                deliver=bot.deliver,
            )
            current = outcome.draft
            if current is not None and (outcome.changed or current.status != "pending"):
                only = None if outcome.changed else tapped(query)
                if outcome.changed or only is not None:
                    await cards.queue_refresh(
                        session=session, settings=bot.settings, draft=current, only=only
                    )
                if outcome.changed and status == "approved":
                    await whole_text.queue_follow_up(
                        session=session, settings=bot.settings, draft=current
                    )
    except Exception:
        await query.answer(NOT_SAVED)
        raise
    bot.sender.kick()
    if current is None:
        await query.answer(UNKNOWN_DRAFT)
        return
    if outcome.changed:
        await query.answer("✅ Approved" if status == "approved" else "❌ Rejected")
        if status == "rejected" and query.message is not None:
            await steps.ask_why(
                context,
                query.message.chat.id,
                query.from_user.id,
                current,
                tapped_topic(query.message),
            )
    elif current.status == status:
        await query.answer(f"Already {status}.")
    else:
        await query.answer(
            f"Already {current.status}: it cannot be {status} now.", show_alert=True
        )


async def mark_sent(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`sent:<id>`: the approved reply was sent to the client; every copy says so."""
    query = update.callback_query
    assert query is not None
    draft_id = draft_id_of(query)
    if draft_id is None:
        await query.answer(UNKNOWN_DRAFT)
        return
    bot = deps(context)
    try:
        async with bot.db() as session, session.begin():
            outcome = await draft_actions.mark_sent(
                session=session, draft_id=draft_id, actor=actor_of(query)
            )
            if outcome.draft is not None and (outcome.changed or tapped(query) is not None):
                only = None if outcome.changed else tapped(query)
                await cards.queue_refresh(
                    session=session, settings=bot.settings, draft=outcome.draft, only=only
                )
    except Exception:
        await query.answer(NOT_SAVED)
        raise
    bot.sender.kick()
    if outcome.draft is None:
        await query.answer(UNKNOWN_DRAFT)
    elif outcome.changed:
        await query.answer("📤 Marked as sent")
    elif outcome.draft.status == "sent":
        await query.answer("Already marked as sent.")
    else:
        await query.answer(f"It is {outcome.draft.status}: only an approved draft can be sent.")
