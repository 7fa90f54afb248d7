"""An approved draft becomes the reply that was sent: status `sent`, its event, its thread."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Draft, Thread, ThreadMessage
from storage.repo import events
from storage.types import utcnow


async def mark_sent(
    *, session: AsyncSession, draft_id: str, details: dict[str, Any]
) -> Draft | None:
    """Mark approved draft `draft_id` sent, in the caller's transaction: `sent_at`,
    `draft.sent@1.0` (its payload: the draft id and `details`), and the text joins the
    draft's thread as the reply (`direction: "out"`; the client no longer waits).

    None when the draft is not `approved` (already sent, or never approved): nothing changes,
    so a reply is recorded once however many paths report it.
    """
    now = utcnow()
    draft = (
        await session.scalars(
            update(Draft)
            .where(Draft.id == draft_id, Draft.status == "approved")  # type: ignore[arg-type]
            .values(status="sent", sent_at=now, updated_at=now)
            .returning(Draft)
            .execution_options(synchronize_session=False)
        )
    ).one_or_none()
    if draft is None:
        return None
    await events.append(
        session=session, event="draft.sent@1.0", payload={"draft_id": draft_id, **details}
    )
    if draft.thread_id is not None:
        session.add(
            ThreadMessage(
                thread_id=draft.thread_id,
                direction="out",
                text=draft.draft_text,
                at=now,
                draft_id=draft_id,
            )
        )
        await session.execute(
            update(Thread)
            .where(Thread.id == draft.thread_id)  # type: ignore[arg-type]
            .values(last_message_at=now, waiting_since=None)
        )
        await session.flush()
    return draft
