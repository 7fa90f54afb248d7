"""/threads: the open conversations, the latest first, each with what waits in it."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col
from telegram import Update
from telegram.ext import ContextTypes

from bot.day.clock import waited
from bot.telegram import render
from bot.telegram.deps import deps
from storage.models import Draft, Thread
from storage.repo import threads

SHOWN = 10
WAITS = {
    "pending": "📝 a draft waits for your decision",
    "approved": "📤 approved: to send to the client",
    "superseded": "✍️ a new draft is being written",
    "rejected": "❌ its draft was rejected: nothing is being written",
}


async def list_threads(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/threads: the conversations with the latest activity, with what waits in each."""
    assert update.effective_chat is not None
    async with deps(context).db() as session:
        rows = await threads.list_page(session=session, limit=SHOWN)
        latest = await _latest_drafts(session, [row.id for row in rows])
    if not rows:
        await context.bot.send_message(update.effective_chat.id, "No conversations yet.")
        return
    lines = ["<b>Conversations</b>, the latest first:"]
    for thread in rows:
        lines.append(_line(thread, latest.get(thread.id)))
    await context.bot.send_message(update.effective_chat.id, "\n\n".join(lines))


def _line(thread: Thread, draft: Draft | None) -> str:
    job = f" · {render.esc(render.cut(thread.job_title, 80))}" if thread.job_title else ""
    head = f"👤 <b>{render.esc(render.cut(thread.client, 80))}</b>{job}"
    if thread.waiting_since is None:
        return f"{head}\n   ✓ answered · {render.when(thread.last_message_at)}"
    state = WAITS.get(draft.status if draft else "", "✍️ no draft yet: Rafael is on it")
    ref = f" (<code>/draft {draft.id}</code>)" if draft is not None else ""
    return f"{head}\n   ⏳ waiting {waited(thread.waiting_since)} · {state}{ref}"


async def _latest_drafts(session: AsyncSession, thread_ids: Sequence[str]) -> dict[str, Draft]:
    """Each thread's newest draft."""
    if not thread_ids:
        return {}
    rows = await session.scalars(
        select(Draft)
        .where(col(Draft.thread_id).in_(thread_ids))
        .order_by(col(Draft.created_at), col(Draft.id))
    )
    return {draft.thread_id: draft for draft in rows if draft.thread_id is not None}
