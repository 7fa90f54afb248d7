"""Row and request-body factories for the API tests.

Bodies are plain dicts, valid by default; keyword overrides replace fields, and a value of
`OMIT` drops the field. Rows the API cannot create (citizen sessions) are inserted directly.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import CitizenSession, Draft, Event, IdempotencyKey, Lead, Note, Schedule
from storage.types import utcnow

OMIT: Any = object()


def _merge(defaults: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    body = {**defaults, **overrides}
    return {key: value for key, value in body.items() if value is not OMIT}


def draft_body(**overrides: Any) -> dict[str, Any]:
    return _merge(
        {
            "client": "Acme Corp",
            "job_title": "Build a Telegram bot",
            "message": "Can you start on Monday?",
            "draft_text": "Hi! Yes, Monday works. Here is my plan…",
            "confidence": 85,
        },
        overrides,
    )


def lead_body(**overrides: Any) -> dict[str, Any]:
    return _merge(
        {
            "platform": "upwork",
            "title": "FastAPI backend for a marketplace",
            "budget": "$2,000",
            "decision": "GO",
            "reason": "Clear scope, verified payment.",
        },
        overrides,
    )


async def insert_sessions(
    db: async_sessionmaker[AsyncSession],
    count: int,
    *,
    citizen: str = "rafael",
    status: str = "completed",
    created_at: datetime | None = None,
) -> list[str]:
    """Insert `count` citizen sessions, one second apart (or all at `created_at`)."""
    base = utcnow() - timedelta(hours=1)
    rows = [
        CitizenSession(
            id=str(uuid.uuid4()),
            citizen=citizen,
            trigger="manual",
            prompt=f"prompt {i}",
            status=status,
            exit_code=0 if status == "completed" else None,
            output_tail="done" if status == "completed" else None,
            created_at=created_at or base + timedelta(seconds=i),
        )
        for i in range(count)
    ]
    async with db() as session, session.begin():
        session.add_all(rows)
    return [row.id for row in rows]


async def count_rows(db: async_sessionmaker[AsyncSession], table: type[Any]) -> int:
    async with db() as session:
        return (await session.scalar(select(func.count()).select_from(table))) or 0


async def event_names(db: async_sessionmaker[AsyncSession]) -> list[str]:
    """Every logged event name, oldest first."""
    async with db() as session:
        return list(await session.scalars(select(Event.event).order_by(Event.id)))


async def stored_counts(db: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    """How many rows each API-written table holds: a failed request must change none."""
    return {
        "drafts": await count_rows(db, Draft),
        "events": await count_rows(db, Event),
        "leads": await count_rows(db, Lead),
        "idempotency_keys": await count_rows(db, IdempotencyKey),
        "notes": await count_rows(db, Note),
        "schedules": await count_rows(db, Schedule),
    }


def database_route_requests() -> list[tuple[str, str, dict[str, Any] | None]]:
    """One request to every `/api` route that reads or writes the database, valid as sent."""
    return [
        ("POST", "/api/draft/create", draft_body()),
        ("GET", "/api/draft/00000000-0000-0000-0000-000000000000", None),
        ("GET", "/api/drafts", None),
        ("POST", "/api/event/log", {"event": "x@1.0", "payload": {}}),
        ("GET", "/api/events", None),
        ("POST", "/api/leads", lead_body()),
        ("GET", "/api/leads", None),
        ("GET", "/api/lead/1", None),
        ("PATCH", "/api/lead/1", {"sent": True}),
        ("GET", "/api/sessions", None),
        ("GET", "/api/session/00000000-0000-0000-0000-000000000000", None),
        ("POST", "/api/notes", {"text": "a note"}),
        ("GET", "/api/notes", None),
        ("GET", "/api/threads", None),
        ("GET", "/api/thread/00000000-0000-0000-0000-000000000000", None),
        ("POST", "/api/schedules", {"citizen": "emma", "cron": "0 8 * * 1-5", "message": "Scan"}),
        ("GET", "/api/schedules", None),
        ("DELETE", "/api/schedule/1", None),
        ("GET", "/api/stats", None),
    ]


def failing_inserts(backend: str, table: str) -> list[str]:
    """SQL that makes every INSERT into `table` fail as a constraint would (as a disk that
    filled up, say); `DROP TRIGGER fail_{table}_insert` (`ON {table}` on PostgreSQL) ends it."""
    if backend == "sqlite":
        return [
            f"CREATE TRIGGER fail_{table}_insert BEFORE INSERT ON {table} "
            "BEGIN SELECT RAISE(ABORT, 'disk full, say'); END"
        ]
    return [
        f"CREATE FUNCTION fail_{table}_insert() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'disk full, say' USING ERRCODE = 'check_violation'; END $$",
        f"CREATE TRIGGER fail_{table}_insert BEFORE INSERT ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION fail_{table}_insert()",
    ]
