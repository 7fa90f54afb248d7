"""/threads: the open conversations, the latest first, each with what waits in it."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot.telegram import render
from bot.telegram.deps import deps
from bot.telegram.topics import tapped_topic
from citizens import thread_notices
from citizens.figures import waited
from storage.models import CitizenSession, Draft, Thread
from storage.repo import thread_waits, threads

SHOWN = 10


async def list_threads(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/threads: the conversations with the latest activity, with what waits in each."""
    assert update.effective_chat is not None
    chat_id, topic = update.effective_chat.id, tapped_topic(update.effective_message)
    async with deps(context).db() as session:
        rows = await threads.list_page(session=session, limit=SHOWN)
        ids = [row.id for row in rows]
        drafts = await thread_waits.latest_drafts(session=session, thread_ids=ids)
        sessions = await thread_waits.latest_sessions(session=session, thread_ids=ids)
    if not rows:
        await context.bot.send_message(chat_id, "No conversations yet.", message_thread_id=topic)
        return
    lines = ["<b>Conversations</b>, the latest first:"]
    for thread in rows:
        lines.append(_line(thread, sessions.get(thread.id), drafts.get(thread.id)))
    await context.bot.send_message(chat_id, "\n\n".join(lines), message_thread_id=topic)


def _line(thread: Thread, last: CitizenSession | None, draft: Draft | None) -> str:
    head = f"👤 {render.client_and_job(thread.client, thread.job_title)}"
    if thread.waiting_since is None:
        return f"{head}\n   ✓ answered · {render.when(thread.last_message_at)}"
    if draft is not None and draft.status == "pending":
        state = "📝 a draft waits for your decision"
    else:
        state = render.esc(thread_notices.waiting_state(last, draft))
    ref = f" (<code>/draft {draft.id}</code>)" if draft is not None else ""
    return f"{head}\n   ⏳ waiting {waited(thread.waiting_since)} · {state}{ref}"
