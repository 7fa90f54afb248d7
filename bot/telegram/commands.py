"""Chat commands: /start and /help, /drafts, /leads, /events and /draft."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from telegram import BotCommand, Update
from telegram.ext import ContextTypes

from bot.telegram import callbacks, cards, render, waiting, whole_text
from bot.telegram.deps import deps
from bot.telegram.topics import tapped_topic
from storage.models import Draft
from storage.repo import drafts, events, leads, outbox, thread_waits
from storage.repo.events import EventFilter
from storage.types import utcnow

DRAFTS_PAGE = 5
RECENT = 10
EVENT_PREFIX = re.compile(r"^[a-z0-9_.@]{1,49}\*?$")

COMMANDS = [
    BotCommand("drafts", "Pending drafts, each with its buttons"),
    BotCommand("threads", "Conversations with clients, the latest first, and what waits"),
    BotCommand("leads", "Recent leads: /leads, /leads GO or /leads NO-GO"),
    BotCommand("events", "Recent events, optionally by name prefix: /events draft."),
    BotCommand("draft", "The whole text of one draft: /draft <id or its first 8 characters>"),
    BotCommand("trigger", "Start a citizen session: /trigger <citizen> <message>"),
    BotCommand("stats", "Charts of the last days: /stats [days]"),
    BotCommand("schedule", "Scheduled sessions: /schedule, /schedule add …, /schedule rm <id>"),
    BotCommand("cancel", "Abandon the edit, reason or redraft in progress"),
    BotCommand("help", "What this bot does"),
]
"""What setMyCommands registers, and what /help lists, in this order."""


def help_text() -> str:
    lines = [
        "🔒 <b>ScopeLock</b>: the citizens draft replies to clients; you decide here.",
        "Each new draft arrives with ✅ Approve, ✏️ Edit, 🔁 Redraft and ❌ Reject buttons.",
        "",
    ]
    lines += [f"/{c.command} — {render.esc(c.description)}" for c in COMMANDS]
    return "\n".join(lines)


async def show_help(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/start and /help: what the bot does and its commands."""
    assert update.effective_chat is not None
    await context.bot.send_message(
        update.effective_chat.id, help_text(), message_thread_id=_topic(update)
    )


def _topic(update: Update) -> int | None:
    """The forum topic the command was typed in: its answer goes there (topics.py)."""
    return tapped_topic(update.effective_message)


async def list_drafts(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/drafts: the first page of pending drafts, then the clients waiting with no draft."""
    chat = update.effective_chat
    assert chat is not None
    await _send_drafts_page(context, chat.id, None, _topic(update), forum=bool(chat.is_forum))


async def more_drafts(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The "More drafts" button: the next page."""
    query, chat = update.callback_query, update.effective_chat
    assert query is not None and chat is not None
    parsed = callbacks.parse(query.data)
    await query.answer()
    await _send_drafts_page(
        context,
        chat.id,
        parsed.value if parsed else None,
        tapped_topic(query.message),
        forum=bool(chat.is_forum),
    )


async def _send_drafts_page(
    context: ContextTypes.DEFAULT_TYPE,
    chat_id: int,
    after_id: str | None,
    topic: int | None,
    *,
    forum: bool,
) -> None:
    """Queue the page's cards, then the "more" button, through the outbox.

    Several messages in a row can meet Telegram's flood limits; the outbox sends them in
    order and waits out a 429 instead of losing the rest of the page. A card copy goes where
    its draft's card goes (a thread's, to its topic); the rest answers in `topic`, where the
    command was typed. In a `forum`, that place is told first where the cards went.
    """
    async with deps(context).db() as session, session.begin():
        page, remaining = await drafts.pending_page(
            session=session, after_id=after_id, limit=DRAFTS_PAGE
        )
        # Clients who wait with nothing to decide come after the pending drafts (§14).
        left = [] if after_id is not None else await thread_waits.without_draft(session=session)
        in_topics = sum(draft.thread_id is not None for draft in page)
        if forum and in_topics:
            await outbox.enqueue(
                session=session,
                chat_id=chat_id,
                text=_where_cards_go(len(page), in_topics),
                topic_id=topic,
            )
        for draft in page:
            # A copy of the card: recorded once sent, so it follows the draft like the card.
            await cards.queue_card(
                session=session,
                settings=deps(context).settings,
                draft=draft,
                chat_id=chat_id,
                title="Pending draft",
                topic_id=topic,
            )
        if remaining:
            await outbox.enqueue(
                session=session,
                chat_id=chat_id,
                text=f"{remaining} more pending draft{'s' if remaining > 1 else ''}.",
                reply_markup=callbacks.more_drafts_markup(page[-1].id).to_dict(),
                topic_id=topic,
            )
        if left:
            text, markup = waiting.listing(left, utcnow())
            await outbox.enqueue(
                session=session, chat_id=chat_id, text=text, reply_markup=markup, topic_id=topic
            )
    if not page and not left:
        await context.bot.send_message(
            chat_id, "No pending drafts, and no client waits. 🎉", message_thread_id=topic
        )
    deps(context).sender.kick()


def _where_cards_go(shown: int, in_topics: int) -> str:
    """In a forum: the cards of threads' drafts go to their topics, not where /drafts was."""
    if in_topics == shown:
        return (
            f"📋 {render.plural(shown, 'pending draft')}: each card follows in its client's topic."
        )
    return (
        f"📋 {render.plural(shown, 'pending draft')}: {in_topics} of the cards follow in their "
        "clients' topics, the others here."
    )


DRAFT_USAGE = (
    "Usage: /draft &lt;id&gt;, with the id shown under a draft (its first 8 characters do)."
)
DRAFT_ID = re.compile(r"^[0-9a-f]{8}[0-9a-f-]{0,28}$")
AMBIGUOUS_SHOWN = 5


async def show_full_draft(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/draft <id or its first 8 characters>: the draft, its text whole in blocks to copy."""
    assert update.effective_chat is not None
    chat_id, topic = update.effective_chat.id, _topic(update)
    args = context.args or []
    given = args[0].strip().lower() if len(args) == 1 else ""
    if not DRAFT_ID.match(given):
        await context.bot.send_message(chat_id, DRAFT_USAGE, message_thread_id=topic)
        return
    async with deps(context).db() as session:
        found = await drafts.starting_with(
            session=session, prefix=given, limit=AMBIGUOUS_SHOWN + 1
        )
    if len(found) != 1:
        await context.bot.send_message(
            chat_id, _not_one_draft(given, found), message_thread_id=topic
        )
        return
    async with deps(context).db() as session, session.begin():
        for text in full_draft(found[0]):
            await outbox.enqueue(session=session, chat_id=chat_id, text=text, topic_id=topic)
    deps(context).sender.kick()


def _not_one_draft(given: str, found: Sequence[Draft]) -> str:
    if not found:
        return f"There is no draft <code>{render.esc(given)}</code>.\n{DRAFT_USAGE}"
    many = f"more than {AMBIGUOUS_SHOWN}" if len(found) > AMBIGUOUS_SHOWN else str(len(found))
    lines = [f"{many} drafts have an id starting with <code>{render.esc(given)}</code>:"]
    for draft in found[:AMBIGUOUS_SHOWN]:
        lines.append(
            f"<code>{render.esc(draft.id)}</code> · {render.esc(render.cut(draft.client, 60))}"
        )
    lines.append("Send /draft with more of the id.")
    return "\n".join(lines)


def full_draft(draft: Draft) -> list[str]:
    """What /draft answers: who and what, then the text whole, in blocks to copy in order."""
    message = render.cut(draft.message, render.CLIENT_MESSAGE_MAX)
    head = (
        f"📄 <b>Draft</b> for {render.esc(render.cut(draft.client, render.NAME_SHOWN))} · "
        f"<b>{render.esc(render.cut(draft.job_title, render.TITLE_SHOWN))}</b>\n"
        f"<code>{render.esc(draft.id)}</code> · status <b>{render.esc(draft.status)}</b>\n\n"
        f"<b>Client's message:</b>\n<blockquote>{render.esc(message)}</blockquote>"
    )
    if message != draft.message:
        head += f"\n<i>(the client's message is {len(draft.message):,} characters; cut here)</i>"
    texts = whole_text.messages(draft.draft_text, whole_text.reply_heading(draft))
    return [head, *texts]


async def list_leads(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/leads [GO|NO-GO]: the most recent leads."""
    assert update.effective_chat is not None
    decision = " ".join(context.args or []).strip().upper() or None
    if decision not in (None, "GO", "NO-GO"):
        await context.bot.send_message(
            update.effective_chat.id, "Usage: /leads [GO|NO-GO]", message_thread_id=_topic(update)
        )
        return
    async with deps(context).db() as session:
        rows = await leads.list_page(session=session, decision=decision, limit=RECENT)
    if not rows:
        await context.bot.send_message(
            update.effective_chat.id, "No leads yet.", message_thread_id=_topic(update)
        )
        return
    lines = [f"<b>Recent leads</b>{f' ({decision})' if decision else ''}:"]
    for lead in rows:
        mark = "🟢" if lead.decision == "GO" else "🔴"
        sent = " · sent ✓" if lead.sent else ""
        lines.append(
            f"{mark} <b>{render.esc(lead.title)}</b> · {render.esc(lead.platform)} · "
            f"{render.esc(lead.budget)}{sent}\n   {render.esc(render.cut(lead.reason, 200))}"
        )
        if lead.link:
            lines.append(f"   {render.esc(lead.link)}")
    await context.bot.send_message(
        update.effective_chat.id, _fit(lines), message_thread_id=_topic(update)
    )


async def list_events(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/events [prefix]: the most recent events, all or those whose name starts with prefix."""
    assert update.effective_chat is not None
    prefix = " ".join(context.args or []).strip().lower()
    if prefix and not EVENT_PREFIX.match(prefix):
        await context.bot.send_message(
            update.effective_chat.id,
            "Usage: /events [prefix], for example /events draft.",
            message_thread_id=_topic(update),
        )
        return
    name = None
    if prefix:
        exact = "@" in prefix and not prefix.endswith("*")
        name = prefix if exact else prefix.rstrip("*") + "*"
    async with deps(context).db() as session:
        rows = await events.list_page(session=session, where=EventFilter(name=name), limit=RECENT)
    if not rows:
        await context.bot.send_message(
            update.effective_chat.id, "No events yet.", message_thread_id=_topic(update)
        )
        return
    lines = [f"<b>Recent events</b>{f' ({render.esc(prefix)})' if prefix else ''}:"]
    for event in rows:
        payload = render.cut(json.dumps(event.payload, ensure_ascii=False, sort_keys=True), 300)
        lines.append(
            f"<code>#{event.id}</code> {event.timestamp:%Y-%m-%d %H:%M:%S} "
            f"<b>{render.esc(event.event)}</b>\n<code>{render.esc(payload)}</code>"
        )
    await context.bot.send_message(
        update.effective_chat.id, _fit(lines), message_thread_id=_topic(update)
    )


def _fit(lines: list[str]) -> str:
    """Join whole lines, as many as fit in one message."""
    kept: list[str] = []
    for line in lines:
        candidate = "\n".join([*kept, line])
        if render.visible_length(candidate) > render.MAX_MESSAGE_UTF16 - 100:
            break
        kept.append(line)
    return "\n".join(kept)
