"""The body of a delivery: the draft as `GET /api/draft/{id}` shows it, and its thread."""

from __future__ import annotations

import json

from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Draft, Thread
from storage.repo import threads
from web.schemas import DraftOut, ThreadSummary


async def delivery_body(*, session: AsyncSession, draft_id: str) -> str | None:
    """`{"type": "draft.approved", "draft": {…}, "thread": {…}|null}` as compact JSON;
    None when the draft no longer exists."""
    draft = await session.get(Draft, draft_id)
    if draft is None:
        return None
    feedback = await threads.feedback_for(session=session, draft_ids=[draft_id])
    shown = DraftOut.model_validate({**draft.model_dump(), "feedback": feedback[draft_id]})
    thread = None
    if draft.thread_id is not None:
        row = await session.get(Thread, draft.thread_id)
        thread = None if row is None else ThreadSummary.model_validate(row).model_dump(mode="json")
    document = {"type": "draft.approved", "draft": shown.model_dump(mode="json"), "thread": thread}
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))
