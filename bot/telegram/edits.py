"""Editing a draft in chat: the `edit:` tap, the operator's next text message, and /cancel.

The pending edit lives in the database (storage/repo/pending_edits.py), so the text message
still edits the draft after a restart. The edited card goes through the outbox, in the same
transaction as the new text and its event.
"""

from __future__ import annotations

import logging

from telegram import ForceReply, Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot.telegram import callbacks, render
from bot.telegram.decisions import UNKNOWN_DRAFT, draft_id_of
from bot.telegram.deps import deps
from storage.models import Draft
from storage.repo import draft_actions, drafts, outbox, pending_edits

log = logging.getLogger(__name__)

NOTHING_TO_EDIT = (
    "Nothing is being edited. Tap ✏️ Edit under a draft first, or send /help for the commands."
)


async def ask_for_new_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`edit:<id>`: remember the edit for this chat and ask for the new text."""
    query, chat = update.callback_query, update.effective_chat
    assert query is not None and chat is not None
    draft_id = draft_id_of(query)
    draft = None
    if draft_id is not None:
        async with deps(context).db() as session, session.begin():
            draft = await drafts.get(session=session, draft_id=draft_id)
            if draft is not None and draft.status == "pending":
                await pending_edits.start(
                    session=session, chat_id=chat.id, draft_id=draft.id, user_id=query.from_user.id
                )
    if draft is None:
        await query.answer(UNKNOWN_DRAFT)
        return
    if draft.status != "pending":
        await query.answer(f"Already {draft.status}: it can no longer be edited.", show_alert=True)
        return
    await query.answer("✏️ Send the new text")
    await context.bot.send_message(
        chat.id,
        f"✏️ Send the new text of the draft for <b>{render.esc(draft.client)}</b> as your next "
        "message, or /cancel to leave it as it is.",
        # A reply reaches the bot even in a group where it only sees commands and replies.
        reply_markup=ForceReply(selective=True, input_field_placeholder="The new draft text"),
    )


async def receive_new_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A plain text message: the new text of the edit pending in this chat, if there is one."""
    message, chat, user = update.message, update.effective_chat, update.effective_user
    assert message is not None and message.text is not None and chat is not None
    new_text = message.text
    old_text = draft = outbox_id = None
    async with deps(context).db() as session, session.begin():
        pending = await pending_edits.take(session=session, chat_id=chat.id)
        if pending is not None:
            before = await drafts.get(session=session, draft_id=pending.draft_id)
            old_text = before.draft_text if before is not None else None
            actor = draft_actions.Actor(user.id if user else 0, user.full_name if user else "")
            outcome = await draft_actions.edit(
                session=session, draft_id=pending.draft_id, text=new_text, actor=actor
            )
            draft = outcome.draft
            if not outcome.changed:
                old_text = None
        if old_text is not None and draft is not None:
            outbox_id = await outbox.enqueue(
                session=session,
                chat_id=chat.id,
                text=render.draft_card(draft, title="Edited draft"),
                reply_markup=callbacks.with_mini_app(
                    callbacks.draft_keyboard(draft.id),
                    draft.id,
                    chat_id=chat.id,
                    mini_app_url=deps(context).settings.mini_app_url,
                ),
                draft_id=draft.id,
            )
    if pending is None:
        # In a group, people talk among themselves: only a private chat gets the hint.
        if chat.type == ChatType.PRIVATE:
            await message.reply_text(NOTHING_TO_EDIT)
    elif outbox_id is None or draft is None or old_text is None:
        status = draft.status if draft is not None else "removed"
        await message.reply_text(f"That draft was already {status}; its text was not changed.")
    else:
        await _retire_old_card(context, draft, old_text, render.who(user))
        await deps(context).sender.deliver(outbox_id)


async def _retire_old_card(
    context: ContextTypes.DEFAULT_TYPE, draft: Draft, old_text: str, actor: str
) -> None:
    """Take the buttons off the card of the old text; the new card follows below it."""
    chat_id = deps(context).settings.telegram_chat_id
    if draft.telegram_message_id is None or chat_id is None:
        return
    card = render.draft_card(
        draft, title="Draft", text=old_text, footer=render.edited_footer(actor)
    )
    try:
        await context.bot.edit_message_text(
            card, chat_id=chat_id, message_id=draft.telegram_message_id
        )
    except TelegramError as error:
        log.info("could not retire the old card of draft %s: %s", draft.id, error)


async def cancel_edit(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/cancel: forget the edit pending in this chat; the draft stays as it was."""
    chat, message = update.effective_chat, update.message
    assert chat is not None and message is not None
    async with deps(context).db() as session, session.begin():
        cancelled = await pending_edits.cancel(session=session, chat_id=chat.id)
    await message.reply_text(
        "Edit cancelled; the draft is unchanged." if cancelled else "Nothing to cancel."
    )
