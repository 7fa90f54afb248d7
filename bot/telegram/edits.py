"""Editing a draft in chat: the `edit:` tap, the operator's next text message, and /cancel.

The pending edit lives in the database (storage/repo/pending_edits.py), so the text message
still edits the draft after a restart; it belongs to the user who tapped, in that chat. The
edited card goes through the outbox, in the same transaction as the new text and its event.

A draft's `telegram_message_id` is its card in the operator's chat (TELEGRAM_CHAT_ID): only a
card sent there may replace it. An edit made in an allowed user's private chat gets its new card
there, and the operator chat's card is refreshed in place.
"""

from __future__ import annotations

import logging

from telegram import ForceReply, Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot.telegram import callbacks, render
from bot.telegram.callbacks import draft_markup
from bot.telegram.decisions import UNKNOWN_DRAFT, draft_id_of
from bot.telegram.deps import deps
from storage.models import Draft
from storage.repo import draft_actions, drafts, outbox, pending_edits

log = logging.getLogger(__name__)

NOTHING_TO_EDIT = (
    "Nothing is being edited. Tap ✏️ Edit under a draft first, or send /help for the commands."
)


async def ask_for_new_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`edit:<id>`: remember the edit for this user in this chat and ask for the new text."""
    query, chat = update.callback_query, update.effective_chat
    assert query is not None and chat is not None
    draft_id = draft_id_of(query)
    draft = None
    if draft_id is not None:
        async with deps(context).db() as session, session.begin():
            draft = await drafts.get(session=session, draft_id=draft_id)
            if draft is not None and draft.status == "pending":
                await pending_edits.start(
                    session=session, chat_id=chat.id, user_id=query.from_user.id, draft_id=draft.id
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
    """A plain text message: the new text of the sender's edit pending in this chat, if any."""
    message, chat, user = update.message, update.effective_chat, update.effective_user
    assert message is not None and message.text is not None and chat is not None
    assert user is not None
    new_text = message.text
    in_operator_chat = chat.id == deps(context).settings.telegram_chat_id
    old_text = draft = outbox_id = None
    async with deps(context).db() as session, session.begin():
        pending = await pending_edits.take(session=session, chat_id=chat.id, user_id=user.id)
        if pending is not None:
            before = await drafts.get(session=session, draft_id=pending.draft_id)
            old_text = before.draft_text if before is not None else None
            actor = draft_actions.Actor(user.id, user.full_name)
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
                draft_id=draft.id if in_operator_chat else None,
            )
    if pending is None:
        log.debug("no edit of user %s pending in chat %s", user.id, chat.id)
        # In a group, people talk among themselves: only a private chat gets the hint.
        if chat.type == ChatType.PRIVATE:
            await message.reply_text(NOTHING_TO_EDIT)
    elif outbox_id is None or draft is None or old_text is None:
        status = draft.status if draft is not None else "removed"
        await message.reply_text(f"That draft was already {status}; its text was not changed.")
    else:
        await _update_operator_card(context, draft, old_text, render.who(user), in_operator_chat)
        await deps(context).sender.deliver(outbox_id)


async def _update_operator_card(
    context: ContextTypes.DEFAULT_TYPE, draft: Draft, old_text: str, actor: str, retire: bool
) -> None:
    """The draft's card in the operator's chat: retired (its buttons off, the new card follows
    below it) when the edit was made there, else shown with the new text, buttons kept."""
    chat_id = deps(context).settings.telegram_chat_id
    if draft.telegram_message_id is None or chat_id is None:
        return
    if retire:
        footer = render.edited_footer(actor)
        card, markup = render.draft_card(draft, title="Draft", text=old_text, footer=footer), None
    else:
        card, markup = render.draft_card(draft, title="Edited draft"), draft_markup(draft.id)
    try:
        await context.bot.edit_message_text(
            card, chat_id=chat_id, message_id=draft.telegram_message_id, reply_markup=markup
        )
    except TelegramError as error:
        log.info("could not update the operator's card of draft %s: %s", draft.id, error)


async def cancel_edit(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/cancel: forget the sender's edit pending in this chat; the draft stays as it was."""
    chat, message, user = update.effective_chat, update.message, update.effective_user
    assert chat is not None and message is not None and user is not None
    async with deps(context).db() as session, session.begin():
        cancelled = await pending_edits.cancel(session=session, chat_id=chat.id, user_id=user.id)
    await message.reply_text(
        "Edit cancelled; the draft is unchanged." if cancelled else "Nothing to cancel."
    )
