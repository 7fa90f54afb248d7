"""The citizen session queue: enqueue, claim, heartbeat, finish, and recovery of the abandoned.

Every status change writes its `citizen.session.*@1.0` event in the caller's transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import CitizenSession
from storage.repo import events
from storage.types import utcnow

Row = CitizenSession


async def enqueue(
    *,
    session: AsyncSession,
    citizen: str,
    trigger: str,
    prompt: str,
    notify_chat_id: int | None = None,
    thread_id: str | None = None,
    lead_id: int | None = None,
    draft_id: str | None = None,
) -> CitizenSession:
    """Queue a session; `thread_id` when it answers a client, `lead_id` for a proposal,
    `draft_id` when it redrafts that draft."""
    row = CitizenSession(
        id=str(uuid.uuid4()),
        citizen=citizen,
        trigger=trigger,
        prompt=prompt,
        status="queued",
        notify_chat_id=notify_chat_id,
        thread_id=thread_id,
        lead_id=lead_id,
        draft_id=draft_id,
        created_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    await events.append(
        session=session,
        event="citizen.session.queued@1.0",
        payload={"session_id": row.id, "citizen": citizen, "trigger": trigger},
    )
    return row


async def count_ahead(*, session: AsyncSession, row: CitizenSession) -> int:
    """Sessions of the same citizen that will run (or are running) before `row`."""
    query = select(func.count()).where(
        Row.citizen == row.citizen,
        Row.id != row.id,
        (Row.status == "running")
        | ((Row.status == "queued") & (Row.created_at <= row.created_at)),
    )
    return int((await session.execute(query)).scalar_one())


async def citizens_waiting(*, session: AsyncSession) -> list[str]:
    """Citizens with a queued session, the longest-waiting first."""
    query = (
        select(Row.citizen, func.min(Row.created_at).label("first"))
        .where(Row.status == "queued")
        .group_by(Row.citizen)
        .order_by("first")
    )
    return [citizen for citizen, _ in (await session.execute(query)).all()]


async def claim_next(
    *, session: AsyncSession, citizen: str, claimed_by: str
) -> CitizenSession | None:
    """Mark the citizen's oldest queued session running, unless one of its sessions runs.

    Two processes racing for one citizen are settled by the partial unique index on running
    sessions: the loser's flush raises IntegrityError, which the caller treats as "busy".
    """
    running = await session.scalar(
        select(Row.id).where(Row.citizen == citizen, Row.status == "running").limit(1)
    )
    if running is not None:
        return None
    query = (
        select(Row)
        .where(Row.citizen == citizen, Row.status == "queued")
        .order_by(Row.created_at, Row.id)  # type: ignore[arg-type]
        .limit(1)
        .with_for_update()
    )
    row = await session.scalar(query)
    if row is None:
        return None
    now = utcnow()
    row.status, row.claimed_by, row.started_at, row.heartbeat_at = "running", claimed_by, now, now
    session.add(row)
    await session.flush()
    await events.append(
        session=session,
        event="citizen.session.started@1.0",
        payload={"session_id": row.id, "citizen": citizen, "trigger": row.trigger},
    )
    return row


async def heartbeat(*, session: AsyncSession, session_ids: Sequence[str]) -> None:
    if session_ids:
        await session.execute(
            update(Row)
            .where(Row.id.in_(session_ids), Row.status == "running")  # type: ignore[attr-defined]
            .values(heartbeat_at=utcnow())
        )


async def finish(
    *,
    session: AsyncSession,
    session_id: str,
    status: str,
    exit_code: int | None = None,
    output_tail: str | None = None,
    error: str | None = None,
) -> CitizenSession | None:
    """Record how a running session ended; None when it is no longer running (reaped)."""
    row = await session.get(Row, session_id, with_for_update=True)
    if row is None or row.status != "running":
        return None
    row.status, row.exit_code, row.finished_at = status, exit_code, utcnow()
    row.output_tail, row.error = output_tail, error
    session.add(row)
    await session.flush()
    payload: dict[str, Any] = {
        "session_id": row.id,
        "citizen": row.citizen,
        "exit_code": exit_code,
        "duration_s": duration_s(row),
    }
    if status == "failed":
        payload["error"] = (error or "")[:500]
    await events.append(session=session, event=f"citizen.session.{status}@1.0", payload=payload)
    return row


async def fail_abandoned(
    *, session: AsyncSession, is_abandoned: Callable[[CitizenSession], bool], reason: str
) -> list[CitizenSession]:
    """Fail every running session whose runner is gone (crashed, restarted, or silent)."""
    rows = (await session.scalars(select(Row).where(Row.status == "running"))).all()
    failed = []
    for row in rows:
        if is_abandoned(row):
            ended = await finish(session=session, session_id=row.id, status="failed", error=reason)
            if ended is not None:
                failed.append(ended)
    return failed


def duration_s(row: CitizenSession) -> float | None:
    if row.started_at is None or row.finished_at is None:
        return None
    return round((row.finished_at - row.started_at).total_seconds(), 3)


def is_stale(row: CitizenSession, *, older_than: datetime) -> bool:
    return row.heartbeat_at is None or row.heartbeat_at < older_than
