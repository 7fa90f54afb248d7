"""A draft's card in each state, and keeping every copy of it true (CONTRACT §5).

A card may exist in several messages (the notification, `/drafts` copies, an edited
version; storage/repo/draft_messages.py knows them all). `queue_refresh` queues, in the
caller's transaction, an outbox edit of every one of them to the draft's state now, so a
copy never keeps buttons for a draft that is no longer pending: the outbox is durable, so
this holds across restarts and between instances.

What a card says: pending (buttons Approve, Edit, Reject, Redraft; the citizen's note, a ⚠️
line under LOW_CONFIDENCE, how long the client has waited); approved (the final text in a
`<pre>` block, a copy button, the job's link, Mark as sent); sent; rejected (with its reason
once given); superseded (the client wrote again) or redrafting (with the instruction).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import CopyTextButton, InlineKeyboardButton, InlineKeyboardMarkup

from bot.delivery.card import delivery_status_line, redeliver_button
from bot.settings import Settings
from bot.telegram import callbacks, lead_cards, render
from citizens.figures import waited
from storage.models import Delivery, Draft, DraftFeedback, Thread
from storage.repo import deliveries, draft_messages, inbox, outbox, threads

COPY_TEXT_MAX = 256
"""What a `copy_text` button can hold."""
FEEDBACK_SHOWN = 300


@dataclass(frozen=True)
class Facts:
    """What a card shows beyond the draft's own columns."""

    waiting_since: datetime | None = None
    """storage/repo/inbox.py's `waiting_since_of` the draft; None: since it was created."""
    feedback: Sequence[DraftFeedback] = field(default_factory=list)
    decided_by_name: str | None = None
    job_link: str | None = None
    """The thread's job link, for a draft whose context has none."""
    delivery: Delivery | None = None
    """The draft's latest delivery to DELIVERY_WEBHOOK_URL, when it has one."""


def text(draft: Draft, facts: Facts, settings: Settings, *, title: str | None = None) -> str:
    """The card's HTML for the draft's current state."""
    return _layout(draft, facts, settings, title=title)[0]


def holds_whole_text(
    draft: Draft, facts: Facts, settings: Settings, *, title: str | None = None
) -> bool:
    """Does the card show the whole text? If not, an approved draft's text follows in blocks
    (bot/telegram/whole_text.py)."""
    return _layout(draft, facts, settings, title=title)[1]


def _layout(
    draft: Draft, facts: Facts, settings: Settings, *, title: str | None = None
) -> tuple[str, bool]:
    pending = draft.status == "pending"
    top = []
    if draft.note:
        top.append(f"💬 <i>{render.esc(render.cut(draft.note, FEEDBACK_SHOWN))}</i>")
    if draft.confidence < settings.low_confidence:
        top.append(
            f"⚠️ <b>Low confidence</b> ({draft.confidence}% &lt; {settings.low_confidence}%): "
            "read it closely."
        )
    if render.job_link(draft) is None and facts.job_link is not None:
        top.append(render.link_line(facts.job_link))
    if pending:
        since = facts.waiting_since or draft.created_at
        top.append(f"⏳ The client has waited {waited(since)}")
    return render.card_layout(
        draft,
        title=title or ("New draft" if pending else "Draft"),
        top=top,
        footer=footer(draft, facts),
        pre=draft.status in ("approved", "sent"),
    )


def footer(draft: Draft, facts: Facts) -> str:
    name = facts.decided_by_name or f"user {draft.decided_by}"
    who = render.esc(render.cut(name, render.NAME_SHOWN))
    decided = f"by {who} · {render.when(draft.decided_at)}"
    last = {item.kind: item for item in facts.feedback}
    if facts.delivery is not None and draft.status in ("approved", "sent"):
        # With a delivery webhook the reply is delivered for the operator: the card says how.
        return f"✅ <b>Approved</b> {decided}\n{delivery_status_line(facts.delivery)}"
    if draft.status == "approved":
        return (
            f"✅ <b>Approved</b> {decided}\n"
            "Copy the reply, send it to the client, then tap 📤 Mark as sent."
        )
    if draft.status == "sent":
        return f"✅ <b>Approved</b> {decided}\n📤 <b>Sent</b> · {render.when(draft.sent_at)}"
    if draft.status == "rejected":
        reason = last.get("reject_reason")
        why = f"\n📝 Reason: {_said(reason)}" if reason else ""
        return f"❌ <b>Rejected</b> {decided}{why}"
    if draft.status == "superseded":
        redraft = last.get("redraft")
        if redraft is not None:
            return (
                f"🔁 <b>Redrafting</b> (asked {decided}): {_said(redraft)}\n"
                "The new version will arrive as a new card."
            )
        return "⏭ <b>Superseded</b>: the client wrote again; a new draft will answer that."
    return ""


def keyboard(
    draft: Draft, facts: Facts, *, chat_id: int | None = None, mini_app_url: str | None = None
) -> dict[str, Any] | None:
    """The card's buttons in the Bot API's JSON form; None: no buttons in this state. A
    pending draft's card in a private chat (`chat_id`) also opens the Mini App's editor."""
    if draft.status == "pending":
        buttons = callbacks.draft_keyboard(draft.id)
        if chat_id is None:
            return buttons
        return callbacks.with_mini_app(
            buttons, draft.id, chat_id=chat_id, mini_app_url=mini_app_url
        )
    if draft.status != "approved":
        return None
    rows = []
    if len(draft.draft_text) <= COPY_TEXT_MAX:
        copy = CopyTextButton(draft.draft_text)
        rows.append([InlineKeyboardButton("📋 Copy the reply", copy_text=copy)])
    link = render.job_link(draft) or facts.job_link
    if link is not None and link.startswith(("https://", "http://")):
        rows.append([InlineKeyboardButton("🔗 Open the job", url=link)])
    if facts.delivery is None:
        rows.append(callbacks.sent_buttons(draft.id))
    elif facts.delivery.status == "failed":
        rows.append([redeliver_button(draft.id)])
    return InlineKeyboardMarkup(rows).to_dict()


def _said(item: DraftFeedback) -> str:
    return f"<i>{render.esc(render.cut(item.text, FEEDBACK_SHOWN))}</i>"


async def facts_of(*, session: AsyncSession, draft: Draft) -> Facts:
    thread = None if draft.thread_id is None else await session.get(Thread, draft.thread_id)
    waiting = inbox.waiting_since_of(draft, thread)
    link = thread.job_link if thread is not None else None
    feedback = (await threads.feedback_for(session=session, draft_ids=[draft.id]))[draft.id]
    delivery = await deliveries.latest(session=session, draft_id=draft.id)
    return Facts(
        waiting_since=waiting,
        feedback=feedback,
        decided_by_name=draft.decided_by_name,
        job_link=link,
        delivery=delivery,
    )


async def queue_card(
    *,
    session: AsyncSession,
    settings: Settings,
    draft: Draft,
    chat_id: int,
    title: str | None = None,
    edit_outbox_id: int | None = None,
    topic_id: int | None = None,
) -> int:
    """Queue a new message showing the draft (recorded among its copies once sent), or with
    `edit_outbox_id` turn that message (a session's notice) into one. In a forum it goes to
    the draft's thread's topic; `topic_id`: where a draft of no thread goes instead of the
    general topic (where the command it answers was typed)."""
    facts = await facts_of(session=session, draft=draft)
    return await outbox.enqueue(
        session=session,
        chat_id=chat_id,
        text=text(draft, facts, settings, title=title),
        reply_markup=keyboard(draft, facts, chat_id=chat_id, mini_app_url=settings.mini_app_url),
        draft_id=draft.id,
        edit_outbox_id=edit_outbox_id,
        thread_id=draft.thread_id,
        topic_id=topic_id,
    )


async def queue_refresh(
    *,
    session: AsyncSession,
    settings: Settings,
    draft: Draft,
    only: tuple[int, int] | None = None,
) -> int:
    """Queue the edits that bring every message showing the draft to its state now; returns
    how many. `only`: just that message, and only if it is not a recorded copy (a late tap on
    an old card repairs it). Call the sender's `kick()` after the commit."""
    if draft.lead_id is not None and draft.status == "sent" and only is None:
        await lead_cards.queue_refresh(session=session, lead_id=draft.lead_id)  # proposal sent
    shown = await draft_messages.of_draft(session=session, draft_id=draft.id)
    if draft.telegram_message_id is not None and settings.telegram_chat_id is not None:
        # A card sent before copies were recorded is still the draft's card.
        card = (settings.telegram_chat_id, draft.telegram_message_id)
        if card not in shown:
            shown.append(card)
    if only is not None:
        if only in shown:
            return 0  # recorded copies were edited with the change that made them stale
        # A tap on a copy nobody recorded (shown before copies were): it follows from now on.
        await draft_messages.record(
            session=session, chat_id=only[0], message_id=only[1], draft_id=draft.id
        )
        shown = [only]
    if not shown:
        return 0
    facts = await facts_of(session=session, draft=draft)
    body = text(draft, facts, settings, title="Draft")
    for chat_id, message_id in shown:
        await outbox.enqueue(
            session=session,
            chat_id=chat_id,
            text=body,
            reply_markup=keyboard(
                draft, facts, chat_id=chat_id, mini_app_url=settings.mini_app_url
            ),
            edit_message_id=message_id,
        )
    return len(shown)
