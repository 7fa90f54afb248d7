"""GO leads in the operator's chat: the card, and its Propose / Sent / Skip buttons."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot.telegram import callbacks
from bot.telegram.deps import deps
from bot.telegram.render import esc, who
from citizens import prompts
from storage.models import Lead
from storage.repo import citizen_queue, events, leads, outbox

PROPOSER = "emma"


def lead_card(lead: Lead, footer: str = "") -> str:
    lines = [
        f"🎯 <b>GO lead</b> · {esc(lead.platform)}",
        f"<b>{esc(lead.title)}</b>",
        f"💰 {esc(lead.budget)}"
        + (f" · urgency {lead.urgency}/10" if lead.urgency else "")
        + (f" · pain {lead.pain}/10" if lead.pain else ""),
        "",
        esc(lead.reason),
    ]
    if lead.link:
        lines.append(f"🔗 {esc(lead.link)}")
    lines.append(f"<code>lead {lead.id}</code>")
    if footer:
        lines += ["", footer]
    return "\n".join(lines)


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
    closes the card. The card then says what was done, without buttons."""
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
        if parsed.action == callbacks.Action.PROPOSE:
            row = await citizen_queue.enqueue(
                session=session,
                citizen=PROPOSER,
                trigger="telegram",
                prompt=proposal_prompt(lead),
                notify_chat_id=chat.id,
            )
            row.lead_id = lead.id
            footer, answer = f"✍️ Proposal asked of Emma by {actor}", "✍️ Emma is on it"
        elif parsed.action == callbacks.Action.LEAD_SENT:
            if not lead.sent:
                await leads.set_sent(session=session, lead=lead, sent=True)
                await events.append(
                    session=session,
                    event="lead.sent@1.0",
                    payload={"lead_id": lead.id, "platform": lead.platform, "title": lead.title},
                )
            footer, answer = f"📨 Proposal sent · marked by {actor}", "📨 Marked as sent"
        else:
            footer, answer = f"⏭ Skipped by {actor}", "⏭ Skipped"
        if query.message is not None:
            await outbox.enqueue(
                session=session,
                chat_id=chat.id,
                text=lead_card(lead, footer),
                edit_message_id=query.message.message_id,
            )
    await query.answer(answer)
    bot.sender.kick()
    runner = context.bot_data.get("citizen_runner")
    if parsed.action == callbacks.Action.PROPOSE and runner is not None:
        runner.wake()
