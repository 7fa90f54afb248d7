"""The taps that start a text step: `edit:<id>` (the new text) and `redraft:<id>` (an
instruction). What the text then does is in bot/telegram/steps.py."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot.telegram import steps
from bot.telegram.decisions import UNKNOWN_DRAFT, draft_id_of
from bot.telegram.topics import tapped_topic


async def ask_for_new_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`edit:<id>`: wait for this user's new text and show the current one, copyable."""
    await _begin(update, context, steps.EDIT, "✏️ Send the new text", "edited")


async def ask_for_instruction(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`redraft:<id>`: wait for this user's instruction for a new version."""
    await _begin(update, context, steps.REDRAFT, "🔁 Send an instruction", "redrafted")


async def _begin(
    update: Update, context: ContextTypes.DEFAULT_TYPE, kind: str, prompt: str, verb: str
) -> None:
    query, chat = update.callback_query, update.effective_chat
    assert query is not None and chat is not None
    draft_id = draft_id_of(query)
    user_id = query.from_user.id
    draft = (
        None if draft_id is None else await steps.start(context, chat.id, user_id, kind, draft_id)
    )
    if draft is None:
        await query.answer(UNKNOWN_DRAFT)
        return
    if draft.status != "pending":
        await query.answer(f"Already {draft.status}: it can no longer be {verb}.", show_alert=True)
        return
    await query.answer(prompt)
    await steps.ask(context, chat.id, user_id, kind, draft, tapped_topic(query.message))
