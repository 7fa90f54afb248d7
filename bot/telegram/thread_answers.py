"""A client left waiting (CONTRACT §14): `retry:<thread_id>` queues the same citizen on the
thread again; `answer:<thread_id>` asks the operator for the reply, which is stored as a draft
of citizen `operator`, approved at once, and then offered exactly like an approved draft
(copy, Mark as sent, or the delivery webhook).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import ForceReply, Update
from telegram.ext import ContextTypes

from bot.telegram import callbacks, cards, render, whole_text
from bot.telegram.deps import BotDeps, deps
from bot.telegram.topics import tapped_topic
from bot.telegram.trigger import RUNNER_KEY
from citizens.notices import SessionNotices
from storage.models import Thread
from storage.repo import draft_actions, steps, thread_waits

UNKNOWN_THREAD = "This conversation does not exist (any more)."
NOT_RETRIED = {
    "gone": UNKNOWN_THREAD,
    "answered": "The client was answered already: nothing to retry.",
    "drafting": "A citizen is already drafting this reply.",
    "pending": "A draft already waits for your decision in this conversation.",
}
ALREADY_ANSWERED = "The client was answered already: there is nothing to answer."


async def act_on_thread(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`retry:<thread_id>` or `answer:<thread_id>` under a client's message."""
    query, chat = update.callback_query, update.effective_chat
    assert query is not None and chat is not None
    parsed = callbacks.parse(query.data)
    thread_id = callbacks.uuid_value(query.data)
    if parsed is None or thread_id is None:
        await query.answer(UNKNOWN_THREAD)
        return
    if parsed.action == callbacks.Action.RETRY:
        await _retry(update, context, thread_id)
    else:
        await _ask_answer(update, context, thread_id)


async def _retry(update: Update, context: ContextTypes.DEFAULT_TYPE, thread_id: str) -> None:
    query = update.callback_query
    assert query is not None
    bot = deps(context)
    notices = SessionNotices(enabled=True, operator_chat=lambda: bot.settings.telegram_chat_id)
    async with bot.db() as session, session.begin():
        requeued = await thread_waits.requeue(session=session, thread_id=thread_id)
        if requeued.session is not None:
            # The client's message says it is being drafted again; its buttons go.
            await notices.show(session=session, row=requeued.session)
    if requeued.session is None:
        await query.answer(NOT_RETRIED.get(requeued.why, UNKNOWN_THREAD), show_alert=True)
        return
    bot.sender.kick()
    runner = context.bot_data.get(RUNNER_KEY)
    if runner is not None:
        runner.wake()
    await query.answer(f"🔁 Asked {requeued.session.citizen} again.")


async def _ask_answer(update: Update, context: ContextTypes.DEFAULT_TYPE, thread_id: str) -> None:
    query, chat = update.callback_query, update.effective_chat
    assert query is not None and chat is not None
    bot, user_id = deps(context), query.from_user.id
    async with bot.db() as session, session.begin():
        thread = await session.get(Thread, thread_id)
        message = None
        if thread is not None and thread.waiting_since is not None:
            message = await thread_waits.latest_client_message(
                session=session, thread_id=thread_id
            )
        if message is not None:
            await steps.start(
                session=session,
                chat_id=chat.id,
                user_id=user_id,
                kind="answer",
                thread_id=thread_id,
            )
    if thread is None or message is None:
        await query.answer(UNKNOWN_THREAD if thread is None else ALREADY_ANSWERED, show_alert=True)
        return
    await query.answer("✍️ Type your reply")
    job = f" ({render.esc(render.cut(thread.job_title, 120))})" if thread.job_title else ""
    quote = render.esc(render.cut(message.text, 1500))
    text = (
        f"✍️ Type your reply to <b>{render.esc(render.cut(thread.client, 120))}</b>{job} as "
        "your next message, or /cancel. It is stored as approved, ready to copy and send.\n"
        f"<b>They wrote:</b>\n<blockquote>{quote}</blockquote>"
    )
    markup = ForceReply(selective=True, input_field_placeholder="Your reply to the client")
    sent = await context.bot.send_message(
        chat.id, text, reply_markup=markup, message_thread_id=tapped_topic(query.message)
    )
    async with bot.db() as session, session.begin():
        await steps.set_prompt(
            session=session,
            chat_id=chat.id,
            user_id=user_id,
            thread_id=thread_id,
            message_id=sent.message_id,
        )


async def store_answer(
    session: AsyncSession,
    bot: BotDeps,
    thread_id: str,
    chat_id: int,
    text: str,
    actor: draft_actions.Actor,
) -> str | None:
    """The operator's typed reply: a draft of `operator`, approved at once, its card sent
    here and put in place of the client's message's Retry / Answer. What to answer the text
    with (None: the card is the answer)."""
    thread = await session.get(Thread, thread_id, with_for_update=True)
    if thread is None:
        return UNKNOWN_THREAD
    if thread.waiting_since is None:
        return "The client was answered already: your text was not stored."
    draft = await thread_waits.answer(session=session, thread=thread, text=text)
    if draft is None:
        return UNKNOWN_THREAD
    outcome = await draft_actions.decide(
        session=session, draft_id=draft.id, status="approved", actor=actor, deliver=bot.deliver
    )
    approved = outcome.draft or draft
    card_id = await cards.queue_card(
        session=session, settings=bot.settings, draft=approved, chat_id=chat_id, title="Your reply"
    )
    # A reply too long for its card follows it whole, in blocks to copy.
    await whole_text.queue_follow_up(
        session=session,
        settings=bot.settings,
        draft=approved,
        card=(chat_id, card_id),
        title="Your reply",
    )
    last = (await thread_waits.latest_sessions(session=session, thread_ids=[thread_id])).get(
        thread_id
    )
    notice_chat = None if last is None else (last.notify_chat_id or bot.settings.telegram_chat_id)
    if last is not None and last.notice_outbox_id is not None and notice_chat is not None:
        await cards.queue_card(
            session=session,
            settings=bot.settings,
            draft=approved,
            chat_id=notice_chat,
            title="Your reply",
            edit_outbox_id=last.notice_outbox_id,
        )
    return None
