"""GO leads in the operator's chat: the card, its Propose / Sent / Skip buttons, and its states.

The card tells the truth about the lead's proposal as it goes (CONTRACT §10): new (Propose,
Sent, Skip); Emma writing it (Sent, Skip); her session failed (why; Propose again, Sent,
Skip); her proposal drafted, its card below (Sent, Skip); sent (no buttons); skipped (no
buttons). The state is read from the rows (`state_of`), so the card is right whatever moved
it: a tap, the end of Emma's session, or her proposal marked sent on its own card.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col
from telegram import Update
from telegram.ext import ContextTypes

from bot.telegram import callbacks
from bot.telegram.deps import deps
from bot.telegram.render import cut, esc, link_line, who
from citizens import prompts
from storage.models import CitizenSession, Draft, Lead
from storage.repo import citizen_queue, events, leads, outbox

PROPOSER = "emma"
TITLE_SHOWN = 300
BUDGET_SHOWN = 100
REASON_SHOWN = 1500
FAILURE_SHOWN = 300

Kind = Literal["new", "proposing", "failed", "drafted", "sent", "skipped"]
KINDS: tuple[Kind, ...] = ("new", "proposing", "failed", "drafted", "sent", "skipped")


@dataclass(frozen=True)
class LeadState:
    kind: Kind = "new"
    actor: str | None = None
    """HTML: who tapped (render.who), when the state came from a tap."""
    detail: str | None = None
    """Why the proposal failed."""


def lead_card(lead: Lead, state: LeadState | None = None) -> str:
    """The card's HTML: the lead, then a line saying where its proposal stands."""
    state = state or LeadState()
    scores = (f" · urgency {lead.urgency}/10" if lead.urgency else "") + (
        f" · pain {lead.pain}/10" if lead.pain else ""
    )
    lines = [
        f"🎯 <b>GO lead</b> · {esc(cut(lead.platform, 50))}",
        f"<b>{esc(cut(lead.title, TITLE_SHOWN))}</b>",
        f"💰 {esc(cut(lead.budget, BUDGET_SHOWN))}{scores}",
        "",
        esc(cut(lead.reason, REASON_SHOWN)),
    ]
    if lead.link:
        lines.append(link_line(lead.link))
    lines.append(f"<code>lead {lead.id}</code>")
    footer = _footer(state)
    if footer:
        lines += ["", footer]
    return "\n".join(lines)


def _footer(state: LeadState) -> str:
    by = f" by {state.actor}" if state.actor else ""
    name = PROPOSER.capitalize()
    if state.kind == "proposing":
        return f"✍️ {name} is writing a proposal (asked{by}); its card will follow."
    if state.kind == "failed":
        why = esc(cut(state.detail or "no reason given", FAILURE_SHOWN))
        return f"❌ {name}'s proposal failed: {why}\nTap ✍️ Propose to ask again."
    if state.kind == "drafted":
        return f"📝 {name}'s proposal is ready: approve it on its card."
    if state.kind == "sent":
        return f"📨 <b>Proposal sent</b>{f' · marked{by}' if by else ''}"
    if state.kind == "skipped":
        return f"⏭ Skipped{by}"
    return ""


def keyboard(lead: Lead, state: LeadState) -> dict[str, Any] | None:
    if lead.id is None or state.kind in ("sent", "skipped"):
        return None
    return callbacks.lead_keyboard(lead.id, propose=state.kind in ("new", "failed"))


async def state_of(*, session: AsyncSession, lead: Lead) -> LeadState:
    """Where the lead's proposal stands, from the rows: sent, else its latest Emma session."""
    if lead.sent:
        return LeadState("sent")
    latest = await session.scalar(
        select(CitizenSession)
        .where(col(CitizenSession.lead_id) == lead.id)
        .order_by(col(CitizenSession.created_at).desc())
        .limit(1)
    )
    if latest is None:
        return LeadState("new")
    if latest.status in ("queued", "running"):
        return LeadState("proposing")
    if latest.status == "failed":
        return LeadState("failed", detail=latest.error)
    drafted = await session.scalar(select(exists().where(col(Draft.lead_id) == lead.id)))
    if drafted:
        return LeadState("drafted")
    return LeadState("failed", detail=f"{PROPOSER.capitalize()} ended without a proposal")


async def queue_refresh(*, session: AsyncSession, lead_id: int) -> bool:
    """Queue the edit that shows the lead's state now on its card, when the card is known
    (it is once tapped); in the caller's transaction. Kick the sender after the commit."""
    lead = await leads.get(session=session, lead_id=lead_id)
    if lead is None or lead.card_chat_id is None or lead.card_message_id is None:
        return False
    state = await state_of(session=session, lead=lead)
    await outbox.enqueue(
        session=session,
        chat_id=lead.card_chat_id,
        text=lead_card(lead, state),
        reply_markup=keyboard(lead, state),
        edit_message_id=lead.card_message_id,
    )
    return True


async def session_finished(*, session: AsyncSession, row: CitizenSession) -> None:
    """A proposal session ended (failed, or done with or without a draft): the card says so."""
    if row.lead_id is not None:
        await queue_refresh(session=session, lead_id=row.lead_id)


def proposal_prompt(lead: Lead) -> str:
    details = "\n".join(
        [
            f"Title: {lead.title}",
            f"Platform: {lead.platform}",
            f"Budget: {lead.budget}",
            f"Link: {lead.link or '(none)'}",
            f"Why GO: {lead.reason}",
        ]
    )
    return "\n\n".join(
        [
            f"The operator asks for a proposal for lead {lead.id}; follow your CLAUDE.md. "
            f"Post it with create_draft and lead_id {lead.id}.",
            prompts.UNTRUSTED_NOTE,
            prompts.fence("LEAD", details),
        ]
    )


async def act_on_lead(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`propose:` queues an Emma session for the lead; `lead_sent:` marks it sent; `lead_skip:`
    closes the card. The card then says what was done, with the buttons that still apply."""
    query, chat = update.callback_query, update.effective_chat
    assert query is not None and chat is not None
    parsed = callbacks.parse(query.data)
    assert parsed is not None
    bot = deps(context)
    actor = who(query.from_user)
    async with bot.db() as session, session.begin():
        lead = await leads.get(session=session, lead_id=int(parsed.value), for_update=True)
        if lead is None:
            await query.answer("This lead does not exist (any more).")
            return
        if query.message is not None:  # the card follows the proposal from now on
            lead.card_chat_id, lead.card_message_id = chat.id, query.message.message_id
        if parsed.action == callbacks.Action.PROPOSE:
            current = await state_of(session=session, lead=lead)
            if current.kind not in ("new", "failed"):
                state, answer = current, "Already asked: see the card."
            else:
                row = await citizen_queue.enqueue(
                    session=session,
                    citizen=PROPOSER,
                    trigger="telegram",
                    prompt=proposal_prompt(lead),
                    notify_chat_id=chat.id,
                )
                row.lead_id = lead.id
                state, answer = LeadState("proposing", actor), "✍️ Emma is on it"
        elif parsed.action == callbacks.Action.LEAD_SENT:
            if not lead.sent:
                await leads.set_sent(session=session, lead=lead, sent=True)
                await events.append(
                    session=session,
                    event="lead.sent@1.0",
                    payload={"lead_id": lead.id, "platform": lead.platform, "title": lead.title},
                )
            state, answer = LeadState("sent", actor), "📨 Marked as sent"
        else:
            state, answer = LeadState("skipped", actor), "⏭ Skipped"
        session.add(lead)
        if query.message is not None:
            await outbox.enqueue(
                session=session,
                chat_id=chat.id,
                text=lead_card(lead, state),
                reply_markup=keyboard(lead, state),
                edit_message_id=query.message.message_id,
            )
    await query.answer(answer)
    bot.sender.kick()
    runner = context.bot_data.get("citizen_runner")
    if parsed.action == callbacks.Action.PROPOSE and runner is not None:
        runner.wake()
