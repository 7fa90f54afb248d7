"""What the operator can do to a draft, whatever he taps it from (a Telegram button, the Mini
App): each action changes the draft, writes its event and, where there is one, its feedback,
inside the caller's transaction.

Showing the change (every card of the draft) is the caller's business: after an action that
changed something, call the notifier's `draft_changed()` in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.models import Draft, DraftFeedback, Lead, Thread, ThreadMessage
from storage.repo import citizen_queue, deliveries, drafts, events
from storage.types import utcnow


@dataclass(frozen=True)
class Actor:
    """Who acted, and through what (`telegram`, `mini_app`)."""

    user_id: int
    name: str
    via: str = "telegram"


RedraftPrompt = Callable[[Draft, str], str]
"""Writes the prompt of a redraft session from the draft turned down and the operator's
instruction (citizens/prompts.py `redraft_of`: the prompts are the citizens' business)."""


@dataclass(frozen=True)
class Outcome:
    """The draft as it is after the action (None: no such draft), and whether this action
    changed it (False: it was no longer in a state the action applies to)."""

    draft: Draft | None
    changed: bool
    session_id: str | None = None
    """The citizen session a redraft queued."""


async def decide(
    *,
    session: AsyncSession,
    draft_id: str,
    status: str,
    actor: Actor,
    deliver: deliveries.Wake | None,
) -> Outcome:
    """Approve or reject a pending draft; of many concurrent decisions exactly one changes it
    and writes `draft.<status>@1.0`. An approval also queues the reply's delivery when the
    process delivers (`deliver`: the delivery worker's wake; None: deliveries are off)."""
    decided = await _move(session, draft_id, "pending", status, decided_by=actor)
    if decided is None:
        return Outcome(await drafts.get(session=session, draft_id=draft_id), changed=False)
    await events.append(
        session=session,
        event=f"draft.{status}@1.0",
        payload={
            "draft_id": draft_id,
            "decided_by": actor.user_id,
            "decided_by_name": actor.name,
            "via": actor.via,
        },
    )
    if status == "approved" and deliver is not None:
        await deliveries.queue_delivery(session=session, draft_id=draft_id, wake=deliver)
    return Outcome(decided, changed=True)


async def edit(*, session: AsyncSession, draft_id: str, text: str, actor: Actor) -> Outcome:
    """Replace a pending draft's text: `draft.edited@1.0` with the old and new text, and the
    edit as feedback (old -> new) for the thread's next session."""
    old_text = await drafts.replace_text(session=session, draft_id=draft_id, text=text)
    draft = await drafts.get(session=session, draft_id=draft_id)
    if old_text is None or draft is None:
        return Outcome(draft, changed=False)
    await events.append(
        session=session,
        event="draft.edited@1.0",
        payload={
            "draft_id": draft_id,
            "old_text": old_text,
            "new_text": text,
            "edited_by": actor.user_id,
            "via": actor.via,
        },
    )
    session.add(
        DraftFeedback(
            draft_id=draft_id, kind="edit", text=text, old_text=old_text, by_user=actor.user_id
        )
    )
    await session.flush()
    return Outcome(draft, changed=True)


async def reject_reason(
    *, session: AsyncSession, draft_id: str, reason: str, actor: Actor
) -> Outcome:
    """Record why a rejected draft was rejected: feedback `reject_reason` and
    `draft.feedback@1.0`. A draft that is not rejected is left alone (changed False)."""
    draft = await drafts.get(session=session, draft_id=draft_id)
    if draft is None or draft.status != "rejected":
        return Outcome(draft, changed=False)
    session.add(
        DraftFeedback(draft_id=draft_id, kind="reject_reason", text=reason, by_user=actor.user_id)
    )
    await session.flush()
    await events.append(
        session=session,
        event="draft.feedback@1.0",
        payload={
            "draft_id": draft_id,
            "kind": "reject_reason",
            "text": reason,
            "by": actor.user_id,
            "via": actor.via,
        },
    )
    return Outcome(draft, changed=True)


async def redraft(
    *,
    session: AsyncSession,
    draft_id: str,
    instruction: str,
    actor: Actor,
    prompt: RedraftPrompt,
) -> Outcome:
    """Turn a pending draft down with an instruction: it becomes `superseded`
    (`draft.redraft_requested@1.0`, feedback `redraft`), and a session of its citizen is
    queued on its thread with the prompt `prompt` writes."""
    changed = await _move(session, draft_id, "pending", "superseded", decided_by=actor)
    if changed is None:
        return Outcome(await drafts.get(session=session, draft_id=draft_id), changed=False)
    queued = await citizen_queue.enqueue(
        session=session,
        citizen=changed.citizen,
        trigger="redraft",
        prompt=prompt(changed, instruction),
        thread_id=changed.thread_id,
        lead_id=changed.lead_id,
        draft_id=changed.id,
    )
    session.add(
        DraftFeedback(draft_id=draft_id, kind="redraft", text=instruction, by_user=actor.user_id)
    )
    await session.flush()
    await events.append(
        session=session,
        event="draft.redraft_requested@1.0",
        payload={
            "draft_id": draft_id,
            "instruction": instruction,
            "requested_by": actor.user_id,
            "requested_by_name": actor.name,
            "via": actor.via,
            "session_id": queued.id,
            "thread_id": changed.thread_id,
        },
    )
    return Outcome(changed, changed=True, session_id=queued.id)


async def mark_sent(*, session: AsyncSession, draft_id: str, actor: Actor) -> Outcome:
    """An approved draft reached the client (the operator sent it, or the delivery webhook
    did): `sent`, `sent_at`, `draft.sent@1.0`; its text joins the thread as the reply (which
    then waits for nothing), and a proposal's lead is marked sent (`lead.sent@1.0`)."""
    now = utcnow()
    changed = await _move(session, draft_id, "approved", "sent", sent_at=now)
    if changed is None:
        return Outcome(await drafts.get(session=session, draft_id=draft_id), changed=False)
    await events.append(
        session=session,
        event="draft.sent@1.0",
        payload={
            "draft_id": draft_id,
            "by": actor.user_id,
            "via": actor.via,
            "thread_id": changed.thread_id,
        },
    )
    if changed.thread_id is not None:
        session.add(
            ThreadMessage(
                thread_id=changed.thread_id,
                direction="out",
                text=changed.draft_text,
                at=now,
                draft_id=draft_id,
            )
        )
        await session.execute(
            update(Thread)
            .where(col(Thread.id) == changed.thread_id)
            .values(waiting_since=None, last_message_at=now)
        )
    if changed.lead_id is not None:
        lead = await session.get(Lead, changed.lead_id, with_for_update=True)
        if lead is not None and not lead.sent:
            lead.sent, lead.updated_at = True, now
            session.add(lead)
            await events.append(
                session=session,
                event="lead.sent@1.0",
                payload={
                    "lead_id": lead.id,
                    "platform": lead.platform,
                    "title": lead.title,
                    "draft_id": draft_id,
                },
            )
    await session.flush()
    return Outcome(changed, changed=True)


async def _move(
    session: AsyncSession,
    draft_id: str,
    before: str,
    after: str,
    *,
    decided_by: Actor | None = None,
    sent_at: datetime | None = None,
) -> Draft | None:
    """Move the draft from `before` to `after` if it is still there (one of many concurrent
    callers wins); the draft as it is now, or None when it was not in `before`.

    The status test is in the UPDATE itself, so of many concurrent decisions exactly one
    changes the row: the caller writes its event only when a draft comes back."""
    now = utcnow()
    values: dict[str, object] = {"status": after, "updated_at": now}
    if decided_by is not None:
        values |= {
            "decided_by": decided_by.user_id,
            "decided_by_name": decided_by.name,
            "decided_at": now,
        }
    if sent_at is not None:
        values["sent_at"] = sent_at
    result = await session.scalars(
        update(Draft)
        .where(col(Draft.id) == draft_id, col(Draft.status) == before)
        .values(**values)
        .returning(Draft)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    return result.one_or_none()
