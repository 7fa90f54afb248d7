"""What the operator can do to a draft, whatever he taps it from (a Telegram button, the Mini
App): each action changes the draft, writes its event and, where there is one, its feedback,
inside the caller's transaction.

Showing the change (every card of the draft) is the caller's business: after an action that
changed something, call the notifier's `draft_changed()` in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Draft, DraftFeedback
from storage.repo import deliveries, drafts, events
from storage.types import utcnow


@dataclass(frozen=True)
class Actor:
    """Who acted, and through what (`telegram`, `mini_app`)."""

    user_id: int
    name: str
    via: str = "telegram"


@dataclass(frozen=True)
class Outcome:
    """The draft as it is after the action (None: no such draft), and whether this action
    changed it (False: it was no longer in a state the action applies to)."""

    draft: Draft | None
    changed: bool


async def decide(*, session: AsyncSession, draft_id: str, status: str, actor: Actor) -> Outcome:
    """Approve or reject a pending draft; of many concurrent decisions exactly one changes it
    and writes `draft.<status>@1.0`. An approval also queues the reply's delivery (when the
    process delivers, see storage/repo/deliveries.py)."""
    decided = await drafts.decide(
        session=session, draft_id=draft_id, status=status, decided_by=actor.user_id
    )
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
    if status == "approved":
        await deliveries.queue_delivery(session=session, draft_id=draft_id)
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


# --- Minimal versions for the Mini App (branch `miniapp`). ---
# RECONCILE AT MERGE: threads-loop builds the full `reject_reason` and `redraft` (the redraft
# also queues a session of the draft's citizen on its thread). Keep their versions; these only
# do the state change, its event and its feedback row, with the same names and signatures.


async def reject_reason(
    *, session: AsyncSession, draft_id: str, reason: str, actor: Actor
) -> Outcome:
    """Record why a rejected draft was rejected: feedback `reject_reason` and
    `draft.feedback@1.0`. A draft that is not rejected is left alone."""
    draft = await drafts.get(session=session, draft_id=draft_id)
    if draft is None or draft.status != "rejected":
        return Outcome(draft, changed=False)
    await _feedback(session, draft_id, "reject_reason", reason, actor)
    return Outcome(draft, changed=True)


async def redraft(
    *, session: AsyncSession, draft_id: str, instruction: str, actor: Actor
) -> Outcome:
    """Supersede a pending draft with the operator's instruction for the next one:
    `draft.redraft_requested@1.0` and feedback `redraft`."""
    now = utcnow()
    result = await session.scalars(
        update(Draft)
        .where(Draft.id == draft_id, Draft.status == "pending")  # type: ignore[arg-type]
        .values(status="superseded", decided_by=actor.user_id, decided_at=now, updated_at=now)
        .returning(Draft)
        .execution_options(synchronize_session=False)
    )
    superseded = result.one_or_none()
    if superseded is None:
        return Outcome(await drafts.get(session=session, draft_id=draft_id), changed=False)
    await events.append(
        session=session,
        event="draft.redraft_requested@1.0",
        payload={
            "draft_id": draft_id,
            "instruction": instruction,
            "requested_by": actor.user_id,
            "via": actor.via,
        },
    )
    session.add(
        DraftFeedback(draft_id=draft_id, kind="redraft", text=instruction, by_user=actor.user_id)
    )
    await session.flush()
    return Outcome(superseded, changed=True)


async def _feedback(
    session: AsyncSession, draft_id: str, kind: str, text: str, actor: Actor
) -> None:
    await events.append(
        session=session,
        event="draft.feedback@1.0",
        payload={
            "draft_id": draft_id,
            "kind": kind,
            "text": text,
            "by": actor.user_id,
            "via": actor.via,
        },
    )
    session.add(DraftFeedback(draft_id=draft_id, kind=kind, text=text, by_user=actor.user_id))
    await session.flush()
