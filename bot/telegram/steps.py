"""Conversation steps: the text awaited after Edit (the new text), Reject (why) and Redraft
(the instruction).

A step belongs to the user who started it, in that chat (storage/repo/steps.py keys it by
both): another member's message never completes it. It is stored, so it survives a restart;
`/cancel` ends it, and so does STEP_TIMEOUT_S: a text after that is not its answer. Each
completion changes the draft through storage/repo/draft_actions.py
and queues the edits of every copy of its card in the same transaction.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import ForceReply, InlineKeyboardMarkup, Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot.telegram import callbacks, cards, render, thread_answers, whole_text
from bot.telegram.deps import BotDeps, deps
from bot.telegram.trigger import RUNNER_KEY
from citizens import prompts
from storage.models import Draft, PendingStep
from storage.repo import draft_actions, drafts, steps
from storage.types import utcnow

log = logging.getLogger(__name__)

EDIT, REJECT_REASON, REDRAFT, ANSWER = "edit", "reject_reason", "redraft", "answer"
NOTHING_PENDING = (
    "Nothing is being edited. Tap ✏️ Edit under a draft first, or send /help for the commands."
)
CANCELLED = {
    EDIT: "Edit cancelled; the draft is unchanged.",
    REJECT_REASON: "No reason recorded; the draft stays rejected.",
    REDRAFT: "Redraft cancelled; the draft is unchanged.",
    ANSWER: "Answer cancelled; the client still waits (Retry or Answer stay on its message).",
}
PRE_ROOM = 3500
"""Of a question's 4096 characters, what the current text may take."""


# --- asking ---


async def start(
    context: ContextTypes.DEFAULT_TYPE, chat_id: int, user_id: int, kind: str, draft_id: str
) -> Draft | None:
    """Start the step if the draft is pending (the draft as it is; None: no such draft)."""
    async with deps(context).db() as session, session.begin():
        draft = await drafts.get(session=session, draft_id=draft_id)
        if draft is not None and draft.status == "pending":
            await steps.start(
                session=session, chat_id=chat_id, user_id=user_id, kind=kind, draft_id=draft_id
            )
    return draft


async def ask(
    context: ContextTypes.DEFAULT_TYPE,
    chat_id: int,
    user_id: int,
    kind: str,
    draft: Draft,
    topic: int | None = None,
) -> None:
    """Send the step's question (in the forum `topic` of the card tapped, if any), and
    remember it so that its end can close it."""
    client = render.esc(render.cut(draft.client, render.NAME_SHOWN))
    if kind == EDIT:
        if render.utf16_len(draft.draft_text) <= PRE_ROOM:
            shown = render.esc(draft.draft_text)
            current = f"The current text (tap it to copy):\n<pre>{shown}</pre>"
        else:  # offered whole, never cut: in blocks above the question
            heading = "📋 <b>The current text</b>, to copy"
            for block in whole_text.messages(draft.draft_text, heading):
                await context.bot.send_message(chat_id, block, message_thread_id=topic)
            current = "The current text is in the blocks above."
        text = (
            f"✏️ Send the new text of the draft for <b>{client}</b> as your next message, or "
            f"/cancel to leave it as it is. {current}"
        )
        markup: ForceReply | InlineKeyboardMarkup = ForceReply(
            selective=True, input_field_placeholder="The new draft text"
        )
    elif kind == REDRAFT:
        text = (
            f"🔁 What should the new version of the draft for <b>{client}</b> do differently? "
            "Send an instruction (“shorter”, “ask for the budget first”), or /cancel."
        )
        markup = ForceReply(selective=True, input_field_placeholder="The instruction")
    else:
        text = (
            f"❌ Rejected. Why? Tap a reason or send your own (it teaches {draft.citizen}); "
            "or just ignore this."
        )
        markup = callbacks.reason_markup(draft.id)
    # A reply reaches the bot even in a group where it only sees commands and replies.
    message = await context.bot.send_message(
        chat_id, text, reply_markup=markup, message_thread_id=topic
    )
    async with deps(context).db() as session, session.begin():
        await steps.set_prompt(
            session=session,
            chat_id=chat_id,
            user_id=user_id,
            draft_id=draft.id,
            message_id=message.message_id,
        )


async def ask_why(
    context: ContextTypes.DEFAULT_TYPE,
    chat_id: int,
    user_id: int,
    draft: Draft,
    topic: int | None = None,
) -> None:
    """After a rejection (already stored): offer reasons, and wait for a typed one."""
    async with deps(context).db() as session, session.begin():
        await steps.start(
            session=session,
            chat_id=chat_id,
            user_id=user_id,
            kind=REJECT_REASON,
            draft_id=draft.id,
        )
    await ask(context, chat_id, user_id, REJECT_REASON, draft, topic)


# --- completing ---


@dataclass(frozen=True)
class Done:
    reply: str | None
    """What to answer the user's message with (None: the new card is the answer)."""
    closing: str | None = None
    """What the step's question becomes (its buttons gone)."""


Completion = Callable[
    [AsyncSession, BotDeps, PendingStep, str, draft_actions.Actor], Awaitable[Done]
]


async def _complete_edit(
    session: AsyncSession, bot: BotDeps, step: PendingStep, text: str, actor: draft_actions.Actor
) -> Done:
    outcome = await draft_actions.edit(
        session=session, draft_id=_draft_of(step), text=text, actor=actor
    )
    if not outcome.changed or outcome.draft is None:
        status = outcome.draft.status if outcome.draft is not None else "removed"
        return Done(f"That draft was already {status}; its text was not changed.")
    await cards.queue_refresh(session=session, settings=bot.settings, draft=outcome.draft)
    await cards.queue_card(
        session=session,
        settings=bot.settings,
        draft=outcome.draft,
        chat_id=step.chat_id,
        title="Edited draft",
    )
    return Done(None)


async def _complete_reason(
    session: AsyncSession, bot: BotDeps, step: PendingStep, text: str, actor: draft_actions.Actor
) -> Done:
    return await record_reason(session, bot, _draft_of(step), text, actor)


async def record_reason(
    session: AsyncSession, bot: BotDeps, draft_id: str, reason: str, actor: draft_actions.Actor
) -> Done:
    outcome = await draft_actions.reject_reason(
        session=session, draft_id=draft_id, reason=reason, actor=actor
    )
    draft = outcome.draft
    if draft is None or not outcome.changed:
        status = draft.status if draft is not None else "removed"
        return Done(f"That draft is {status} now; no reason was stored.")
    await cards.queue_refresh(session=session, settings=bot.settings, draft=draft)
    said = render.esc(render.cut(reason, 200))
    return Done(f"📝 Noted: <i>{said}</i>", closing=f"❌ Rejected. 📝 Reason: <i>{said}</i>")


async def _complete_redraft(
    session: AsyncSession, bot: BotDeps, step: PendingStep, text: str, actor: draft_actions.Actor
) -> Done:
    outcome = await draft_actions.redraft(
        session=session,
        draft_id=_draft_of(step),
        instruction=text,
        actor=actor,
        prompt=prompts.redraft_of,
    )
    if not outcome.changed or outcome.draft is None:
        status = outcome.draft.status if outcome.draft is not None else "removed"
        return Done(f"That draft was already {status}; nothing was redrafted.")
    await cards.queue_refresh(session=session, settings=bot.settings, draft=outcome.draft)
    return Done(
        f"🔁 Asked {render.esc(outcome.draft.citizen)} for a new version; it will arrive as a "
        "new card."
    )


def _draft_of(step: PendingStep) -> str:
    assert step.draft_id is not None, f"a {step.kind} step is about a draft"
    return step.draft_id


async def _complete_answer(
    session: AsyncSession, bot: BotDeps, step: PendingStep, text: str, actor: draft_actions.Actor
) -> Done:
    assert step.thread_id is not None, "an answer step is about a thread"
    reply = await thread_answers.store_answer(
        session, bot, step.thread_id, step.chat_id, text, actor
    )
    return Done(reply)


COMPLETIONS: dict[str, Completion] = {
    EDIT: _complete_edit,
    REJECT_REASON: _complete_reason,
    REDRAFT: _complete_redraft,
    ANSWER: _complete_answer,
}


def started_after(bot: BotDeps) -> datetime:
    """Steps started before this have ended (STEP_TIMEOUT_S): a text now is not their answer."""
    return utcnow() - timedelta(seconds=bot.settings.step_timeout_s)


async def receive_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A plain text message: it completes the sender's step in this chat, if they have one."""
    message, chat, user = update.message, update.effective_chat, update.effective_user
    assert message is not None and message.text is not None and chat is not None
    if user is None:
        return
    bot = deps(context)
    actor = draft_actions.Actor(user.id, user.full_name)
    async with bot.db() as session, session.begin():
        step = await steps.take(
            session=session, chat_id=chat.id, user_id=user.id, started_after=started_after(bot)
        )
        done = None
        if step is not None:
            done = await COMPLETIONS[step.kind](session, bot, step, message.text, actor)
    if step is None or done is None:
        log.debug("no step of user %s pending in chat %s", user.id, chat.id)
        # In a group, people talk among themselves: only a private chat gets the hint.
        if chat.type == ChatType.PRIVATE:
            await message.reply_text(NOTHING_PENDING)
        return
    bot.sender.kick()
    if step.kind == REDRAFT:
        runner = context.bot_data.get(RUNNER_KEY)
        if runner is not None:
            runner.wake()
    await _close(context, step, done.closing)
    if done.reply is not None:
        await message.reply_text(done.reply)


async def choose_reason(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`why:<id>:<n>`: a preset reason for a rejection, from whoever rejected it."""
    query = update.callback_query
    assert query is not None
    parsed = callbacks.parse(query.data)
    chosen = callbacks.parse_reason(parsed.value) if parsed is not None else None
    if chosen is None or query.message is None:
        await query.answer("This button no longer does anything.")
        return
    draft_id, reason = chosen
    bot, user = deps(context), query.from_user
    async with bot.db() as session, session.begin():
        draft = await drafts.get(session=session, draft_id=draft_id)
        if draft is None or draft.decided_by != user.id:
            done = None
        else:
            await steps.take_for_draft(
                session=session,
                chat_id=query.message.chat.id,
                user_id=user.id,
                draft_id=draft_id,
                kind=REJECT_REASON,
            )
            actor = draft_actions.Actor(user.id, user.full_name)
            done = await record_reason(session, bot, draft_id, reason, actor)
    if done is None:
        await query.answer("Only whoever rejected this draft can say why.", show_alert=True)
        return
    bot.sender.kick()
    await query.answer(f"Noted: {reason}")
    if done.closing is not None:
        with contextlib.suppress(TelegramError):
            await query.edit_message_text(done.closing)


async def cancel(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/cancel: end the sender's step in this chat; the draft stays as it is."""
    chat, message, user = update.effective_chat, update.message, update.effective_user
    assert chat is not None and message is not None
    step = None
    if user is not None:
        bot = deps(context)
        async with bot.db() as session, session.begin():
            step = await steps.take(
                session=session, chat_id=chat.id, user_id=user.id, started_after=started_after(bot)
            )
    if step is None:
        await message.reply_text("Nothing to cancel.")
        return
    await _close(context, step, None)
    await message.reply_text(CANCELLED[step.kind])


async def _close(context: ContextTypes.DEFAULT_TYPE, step: PendingStep, text: str | None) -> None:
    """Take the buttons off a finished step's question (the reasons after a rejection)."""
    if step.kind != REJECT_REASON or step.prompt_message_id is None:
        return
    try:
        if text is None:
            await context.bot.edit_message_reply_markup(step.chat_id, step.prompt_message_id)
        else:
            await context.bot.edit_message_text(text, step.chat_id, step.prompt_message_id)
    except TelegramError as error:
        log.info("could not close the question of step %s: %s", step.kind, error)
