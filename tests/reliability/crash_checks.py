"""What the crash test reads back from the database, and what it counts as lost."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import CitizenSession, Draft, Event, Lead, OutboxMessage
from tests.reliability.crash_workload import Ledger


@dataclass
class Stored:
    drafts: dict[str, Draft]
    events: list[Event]
    leads: dict[int, Lead]
    sessions: dict[str, CitizenSession]
    outbox: list[OutboxMessage]

    def named(self, name: str) -> list[dict[str, Any]]:
        return [event.payload for event in self.events if event.event == name]

    def per_draft(self, *names: str) -> Counter[str]:
        return Counter(
            str(event.payload.get("draft_id")) for event in self.events if event.event in names
        )


async def read_back(db: async_sessionmaker[AsyncSession]) -> Stored:
    async with db() as session:
        drafts = {row.id: row for row in (await session.scalars(select(Draft))).all()}
        events = list((await session.scalars(select(Event).order_by(Event.id))).all())  # type: ignore[arg-type]
        leads = {row.id or 0: row for row in (await session.scalars(select(Lead))).all()}
        sessions = {row.id: row for row in (await session.scalars(select(CitizenSession))).all()}
        outbox = list((await session.scalars(select(OutboxMessage))).all())
    return Stored(drafts, events, leads, sessions, outbox)


async def sessions_in(db: async_sessionmaker[AsyncSession], status: str) -> set[str]:
    async with db() as session:
        rows = await session.scalars(
            select(CitizenSession.id).where(CitizenSession.status == status)
        )
        return set(rows.all())


async def settled(db: async_sessionmaker[AsyncSession]) -> bool:
    """Nothing is left to send, no session waits or runs, every card's id is recorded."""
    stored = await read_back(db)
    return (
        all(row.status != "pending" for row in stored.outbox)
        and all(row.status not in ("queued", "running") for row in stored.sessions.values())
        and all(draft.telegram_message_id for draft in stored.drafts.values())
    )


@dataclass
class Losses:
    """Acknowledged writes missing afterwards, by kind (all must stay empty)."""

    found: dict[str, list[Any]] = field(default_factory=dict)
    checked: int = 0

    def expect(self, kind: str, item: Any, holds: bool) -> None:
        self.checked += 1
        if not holds:
            self.found.setdefault(kind, []).append(item)

    @property
    def count(self) -> int:
        return sum(len(items) for items in self.found.values())


def losses(ledger: Ledger, stored: Stored, edits_seen: set[str]) -> Losses:
    """Check every acknowledged write against what the database holds now."""
    lost = Losses()
    created = stored.per_draft("draft.created@1.0")
    for draft_id in ledger.drafts:
        lost.expect("draft", draft_id, draft_id in stored.drafts and created[draft_id] == 1)
    logged = {event.id: event.payload for event in stored.events}
    for event_id, payload in ledger.events.items():
        lost.expect("event", event_id, logged.get(event_id) == payload)
    tracked = Counter(str(p["lead_id"]) for p in stored.named("lead.tracked@1.0"))
    for lead_id, sent in ledger.leads.items():
        lead = stored.leads.get(lead_id)
        kept = lead is not None and tracked[str(lead_id)] == 1 and (lead.sent or not sent)
        lost.expect("lead", lead_id, kept)
    decided = stored.per_draft("draft.approved@1.0", "draft.rejected@1.0")
    for draft_id, status in ledger.decisions.items():
        draft = stored.drafts.get(draft_id)
        kept = draft is not None and draft.status == status and decided[draft_id] == 1
        lost.expect("decision", draft_id, kept)
    edited = {(str(p["draft_id"]), p["new_text"]) for p in stored.named("draft.edited@1.0")}
    for draft_id, text in ledger.edits.items():
        if text in edits_seen:  # the edited card reached Telegram: the edit was acknowledged
            draft = stored.drafts.get(draft_id)
            kept = draft is not None and draft.draft_text == text and (draft_id, text) in edited
            lost.expect("edit", draft_id, kept)
    for session_id in ledger.sessions:
        lost.expect("session", session_id, session_id in stored.sessions)
    return lost
