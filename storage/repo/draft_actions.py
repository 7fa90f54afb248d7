"""What the operator can do to a draft, whatever he taps it from (a Telegram button, the Mini
App): each action changes the draft, writes its event and, where there is one, its feedback,
inside the caller's transaction.

Showing the change (every card of the draft) is the caller's business: after an action that
changed something, call the notifier's `draft_changed()` in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Draft, DraftFeedback
from storage.repo import deliveries, drafts, events


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
