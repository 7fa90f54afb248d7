"""A new draft, stored with its `draft.created@1.0` event and, when the operator is to hear of
it, its card in the outbox: the three commit together or not at all.

This is the busiest write of the API, so it is one `HotWrite`: on PostgreSQL a single
statement (`python -m bench` "POST /api/draft/create" measures it). With an idempotency key
the same writes run inside the caller's transaction, which also holds the key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.hotpath import HotPath, HotWrite
from storage.models import Draft, Event, OutboxMessage
from storage.repo import events

CREATED_EVENT = "draft.created@1.0"

DRAFTS, EVENTS, OUTBOX = Draft.__table__, Event.__table__, OutboxMessage.__table__
_DRAFT_COLUMNS = tuple(column.name for column in DRAFTS.columns)
# Parameters are named draft_<column>: the writes share one namespace of parameters.
_INSERT_DRAFT = insert(DRAFTS).values(
    {name: bindparam(f"draft_{name}") for name in _DRAFT_COLUMNS}
)
_INSERT_EVENT = insert(EVENTS).values(
    event=CREATED_EVENT,
    timestamp=bindparam("draft_created_at"),
    payload=bindparam("event_payload"),
)
_INSERT_CARD = (
    insert(OUTBOX)
    .values(
        chat_id=bindparam("card_chat_id"),
        text=bindparam("card_text"),
        reply_markup=bindparam("card_reply_markup"),
        draft_id=bindparam("draft_id"),
        edit_outbox_id=bindparam("card_edit_outbox_id"),
        thread_id=bindparam("draft_thread_id"),
        status="pending",
        attempts=0,
        next_attempt_at=bindparam("draft_created_at"),
        created_at=bindparam("draft_created_at"),
    )
    .returning(OUTBOX.c.id)
)
_WITH_CARD = HotWrite(_INSERT_DRAFT, _INSERT_EVENT, _INSERT_CARD)
_WITHOUT_CARD = HotWrite(_INSERT_DRAFT, _INSERT_EVENT)


@dataclass(frozen=True)
class Card:
    """The operator's notification of a draft, as `storage.repo.outbox.enqueue` takes it."""

    chat_id: int
    text: str
    reply_markup: dict[str, Any] | None = None
    edit_outbox_id: int | None = None
    """The card takes the place of that message (the notice of the session that drafted)."""


async def store(*, hot: HotPath, draft: Draft, card: Card | None) -> int | None:
    """Store `draft` (from `drafts.new`), its event and `card`; returns the card's outbox id."""
    write = _WITHOUT_CARD if card is None else _WITH_CARD
    return _outbox_id(await hot.write(write, _params(draft, card)))


async def store_in(*, session: AsyncSession, draft: Draft, card: Card | None) -> int | None:
    """`store`, inside the caller's transaction."""
    write = _WITHOUT_CARD if card is None else _WITH_CARD
    return _outbox_id(await write.run_in(session, _params(draft, card)))


async def superseded_at_once(*, session: AsyncSession, draft: Draft) -> None:
    """A draft stored `superseded` because its session started before the thread's newest
    client message (CONTRACT §14): the session queued by that message answers it."""
    await events.append(
        session=session,
        event="draft.superseded@1.0",
        payload={"draft_id": draft.id, "thread_id": draft.thread_id, "reason": "client_wrote"},
    )


def _params(draft: Draft, card: Card | None) -> dict[str, Any]:
    params = {f"draft_{name}": getattr(draft, name) for name in _DRAFT_COLUMNS}
    params["event_payload"] = {
        "draft_id": draft.id,
        "client": draft.client,
        "job_title": draft.job_title,
        "citizen": draft.citizen,
        "confidence": draft.confidence,
    }
    if card is not None:
        params |= {
            "card_chat_id": card.chat_id,
            "card_text": card.text,
            "card_reply_markup": card.reply_markup,
            "card_edit_outbox_id": card.edit_outbox_id,
        }
    return params


def _outbox_id(rows: Any) -> int | None:
    return int(rows[0][0]) if rows else None
