"""Drafts waiting for, or carrying, the operator's decision."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.folding import fold
from storage.hotpath import HotPath, HotStatement
from storage.models import Draft, DraftFeedback
from storage.repo.keyset import older_than
from storage.types import utcnow

DRAFTS = Draft.__table__
_COLUMNS = tuple(column.name for column in DRAFTS.columns)
FEEDBACK = DraftFeedback.__table__
_FEEDBACK_COLUMNS = ("kind", "text", "old_text", "at")
# GET /api/draft/{id}: the draft and its feedback in one statement, one round trip (a row per
# feedback, the draft's columns repeated; `python -m bench` "GET /api/draft/{id}" measures it).
_READ_WITH_FEEDBACK = HotStatement(
    select(DRAFTS, *(FEEDBACK.c[name] for name in _FEEDBACK_COLUMNS))
    .outerjoin(FEEDBACK, FEEDBACK.c.draft_id == DRAFTS.c.id)
    .where(DRAFTS.c.id == bindparam("draft_id"))
    .order_by(FEEDBACK.c.id)
)


def new(**fields: Any) -> Draft:
    """A new pending draft with its id and times, not stored yet (see `draft_intake`)."""
    now = utcnow()
    return Draft(
        id=str(uuid.uuid4()),
        client_key=fold(fields["client"]),
        created_at=now,
        updated_at=now,
        **fields,
    )


async def get(*, session: AsyncSession, draft_id: str) -> Draft | None:
    return await session.get(Draft, draft_id)


async def starting_with(*, session: AsyncSession, prefix: str, limit: int) -> Sequence[Draft]:
    """Drafts whose id starts with `prefix` (lower-case hex digits and dashes), the newest
    first, at most `limit`."""
    assert all(c in "0123456789abcdef-" for c in prefix), "an id prefix is hex digits and dashes"
    found = await session.scalars(
        select(Draft)
        .where(col(Draft.id).startswith(prefix, autoescape=True))
        .order_by(col(Draft.created_at).desc())
        .limit(limit)
    )
    return found.all()


async def read(*, hot: HotPath, draft_id: str) -> dict[str, Any] | None:
    """One draft's columns and its `feedback` (oldest first), as the API shows them."""
    rows = await hot.fetch(_READ_WITH_FEEDBACK, {"draft_id": draft_id})
    if not rows:
        return None
    width = len(_COLUMNS)
    draft = dict(zip(_COLUMNS, rows[0][:width], strict=True))
    draft["feedback"] = [
        dict(zip(_FEEDBACK_COLUMNS, row[width:], strict=True))
        for row in rows
        if row[width] is not None  # kind: no feedback, one row of NULLs
    ]
    return draft


async def list_page(
    *,
    session: AsyncSession,
    status: str | None,
    limit: int,
    after: tuple[datetime, str] | None = None,
    thread_id: str | None = None,
    client: str | None = None,
) -> Sequence[Draft]:
    """Newest first; `after` is the (created_at, id) of the last row of the previous page.

    `client` matches as `storage.folding.fold` folds it."""
    query = select(Draft).order_by(col(Draft.created_at).desc(), col(Draft.id).desc()).limit(limit)
    if status is not None:
        query = query.where(col(Draft.status) == status)
    if thread_id is not None:
        query = query.where(col(Draft.thread_id) == thread_id)
    if client is not None:
        query = query.where(col(Draft.client_key) == fold(client))
    if after is not None:
        query = query.where(older_than(col(Draft.created_at), col(Draft.id), after))
    return (await session.scalars(query)).all()


async def replace_text(*, session: AsyncSession, draft_id: str, text: str) -> str | None:
    """Replace a pending draft's text and return the old one; None when it is not pending."""
    old = await session.scalar(
        select(col(Draft.draft_text))
        .where(col(Draft.id) == draft_id, col(Draft.status) == "pending")
        .with_for_update()
    )
    if old is None:
        return None
    changed = await session.execute(
        update(Draft)
        .where(col(Draft.id) == draft_id, col(Draft.status) == "pending")
        .values(draft_text=text, updated_at=utcnow())
    )
    # An UPDATE runs on a cursor; the session's stubs only say Result.
    return old if cast("CursorResult[Any]", changed).rowcount == 1 else None


async def pending_page(
    *, session: AsyncSession, after_id: str | None, limit: int
) -> tuple[Sequence[Draft], int]:
    """Pending drafts, newest first, after draft `after_id` (keyset: a draft decided between
    pages shifts nothing); and how many pending drafts come after this page."""
    pending = col(Draft.status) == "pending"
    after = await session.get(Draft, after_id) if after_id is not None else None
    if after is not None:
        pending = pending & older_than(
            col(Draft.created_at), col(Draft.id), (after.created_at, after.id)
        )
    rows = (
        await session.scalars(
            select(Draft)
            .where(pending)
            .order_by(col(Draft.created_at).desc(), col(Draft.id).desc())
            .limit(limit)
        )
    ).all()
    remaining = 0
    if len(rows) == limit:
        last = rows[-1]
        remaining = int(
            await session.scalar(
                select(func.count())
                .select_from(Draft)
                .where(
                    col(Draft.status) == "pending",
                    older_than(col(Draft.created_at), col(Draft.id), (last.created_at, last.id)),
                )
            )
            or 0
        )
    return rows, remaining
