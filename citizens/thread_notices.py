"""The operator chat's message about a client's message: one per message, edited as the
thread moves on (CONTRACT §14).

It is sent as soon as the message joins its thread: who wrote, about which job, what they
wrote (cut to fit), and that a citizen is drafting. It is the notice of the session that
answers the message: edited when the session starts, and when it fails (with the buttons
`retry:<thread_id>` and `answer:<thread_id>`) or ends without a draft. The session's draft
card then takes its place (bot/telegram/cards.py edits the same message), so the one message
goes on through draft ready, decided and sent.
"""

from __future__ import annotations

from typing import Any

from citizens import figures
from citizens.text import cut, esc
from storage.models import CitizenSession, Draft, Thread
from storage.repo.citizen_queue import duration_s

RETRY = "retry"
ANSWER = "answer"
QUOTE_CHARS = 600
REASON_CHARS = 300
TITLE_CHARS = 120
OFFER = "Retry or Answer in the chat"


def heading(client: str, job_title: str | None) -> str:
    job = f" · 💼 {esc(cut(job_title, TITLE_CHARS))}" if job_title else ""
    return f"💬 <b>{esc(cut(client, TITLE_CHARS))}</b> wrote{job}"


def quoted(message: str) -> str:
    return f"<blockquote>{esc(cut(message.strip(), QUOTE_CHARS))}</blockquote>"


def arrived_text(*, client: str, job_title: str | None, message: str, citizen: str) -> str:
    """The message as it is sent when the client's message arrives."""
    return "\n".join(
        [
            heading(client, job_title),
            quoted(message),
            f"✍️ <b>{esc(citizen)}</b> is drafting a reply (queued).",
        ]
    )


def session_text(row: CitizenSession, thread: Thread, message: str, *, drafted: bool) -> str:
    """The message for the session's state now; `drafted`: it posted a draft."""
    lines = [heading(thread.client, thread.job_title), quoted(message)]
    who = f"<b>{esc(row.citizen)}</b>"
    if row.status == "queued":
        wait = f", held back by the {esc(row.waiting_reason)}" if row.waiting_reason else ""
        lines.append(f"✍️ {who} is drafting a reply (queued{wait}).")
    elif row.status == "running":
        lines.append(f"✍️ {who} is drafting a reply…")
    elif row.status == "completed" and drafted:
        lines.append(f"📝 {who} drafted a reply: its card follows.")
    else:
        lines += [
            stopped_line(row),
            spent_line(row),
            "The client is still waiting: 🔁 Retry, or ✍️ Answer yourself.",
        ]
    return "\n".join(lines)


def spent_line(row: CitizenSession) -> str:
    """How long the session ran and what its own run cost (§7: the notice says both)."""
    spent = "" if row.cost_usd is None else f" · {figures.cost(row.cost_usd)}"
    return f"⏱ after {figures.duration(duration_s(row))}{spent}"


def stopped_line(row: CitizenSession) -> str:
    who = f"<b>{esc(row.citizen)}</b>"
    if row.status == "completed":
        return f"⚠️ {who} finished without drafting a reply."
    reason = esc(cut(row.error or "no reason recorded", REASON_CHARS))
    return f"❌ {who} could not draft a reply: {reason}"


def needs_operator(row: CitizenSession, *, drafted: bool) -> bool:
    """The session ended and left its client with nothing to approve."""
    return row.status == "failed" or (row.status == "completed" and not drafted)


def markup(thread_id: str) -> dict[str, Any]:
    """Retry (the same citizen on the thread again) and Answer (the operator types it)."""
    return {
        "inline_keyboard": [
            [
                {"text": "🔁 Retry", "callback_data": f"{RETRY}:{thread_id}"},
                {"text": "✍️ Answer myself", "callback_data": f"{ANSWER}:{thread_id}"},
            ]
        ]
    }


def stopped_reply(row: CitizenSession, thread: Thread, *, drafted: bool = False) -> str:
    """The short reply (it notifies) when a session fails or leaves a client with nothing;
    `drafted`: it failed after posting its draft, whose card took the message over."""
    job = f" ({esc(cut(thread.job_title, TITLE_CHARS))})" if thread.job_title else ""
    client = f"<b>{esc(cut(thread.client, TITLE_CHARS))}</b>{job}"
    if drafted:
        reason = esc(cut(row.error or "no reason recorded", REASON_CHARS))
        return (
            f"❌ <b>{esc(row.citizen)}</b>'s session failed after posting its draft: {reason}\n"
            f"👤 {client}: the draft's card is above, to decide as any other."
        )
    return f"{stopped_line(row)}\n👤 {client} is waiting for an answer: Retry or Answer above."


def waiting_state(session: CitizenSession | None, draft: Draft | None) -> str:
    """Plain text: what is happening for a client who waits with no pending draft, from the
    thread's latest session and draft. No colon: lines that show it have their own."""
    if session is not None and session.status in ("queued", "running"):
        return f"✍️ {session.citizen} is drafting a reply"
    session_is_newer = session is not None and (
        draft is None or session.created_at > draft.created_at
    )
    if session is not None and session_is_newer:
        if session.status == "failed":
            return f"❌ {session.citizen} could not draft a reply. {OFFER}"
        return f"⚠️ {session.citizen} finished without a draft. {OFFER}"
    if draft is not None and draft.status == "approved":
        return "📤 reply approved, not sent yet"
    if draft is not None and draft.status == "rejected":
        return f"❌ draft rejected, no new one is being written. {OFFER}"
    if draft is not None and draft.status == "superseded":
        return f"⏭ draft set aside, no new one is being written. {OFFER}"
    return f"nothing is being drafted. {OFFER}"


def can_retry(session: CitizenSession | None, draft: Draft | None) -> bool:
    """Retry / Answer make sense: nothing is being drafted and no approved reply waits."""
    if session is not None and session.status in ("queued", "running"):
        return False
    return not (draft is not None and draft.status == "approved")
