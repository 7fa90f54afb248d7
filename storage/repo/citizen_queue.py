"""The citizen session queue: enqueue, claim, heartbeat, finish, and recovery of the abandoned.

Every status change writes its `citizen.session.*@1.0` event in the caller's transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage import wakeups
from storage.hotpath import HotStatement
from storage.models import CitizenSession
from storage.repo import events
from storage.types import utcnow

Row = CitizenSession


@dataclass(frozen=True)
class CliResult:
    """What the CLI's JSON result reported (each part may be missing)."""

    claude_session_id: str | None = None
    cost_usd: float | None = None
    turns: int | None = None
    text: str | None = None


QUEUE = HotStatement(
    insert(Row.__table__).values(
        id=bindparam("session_id"),
        citizen=bindparam("citizen"),
        trigger=bindparam("trigger"),
        prompt=bindparam("prompt"),
        status="queued",
        notify_chat_id=bindparam("notify_chat_id"),
        thread_id=bindparam("thread_id"),
        lead_id=bindparam("lead_id"),
        draft_id=bindparam("draft_id"),
        notice_outbox_id=bindparam("notice_outbox_id"),
        created_at=bindparam("now"),
    )
)
"""Queueing a session, the one statement: `enqueue` runs it in a session, the webhooks' hot
path (storage/repo/reply_intake.py) on the driver; `queued` gives both its parameters."""
QUEUED_EVENT = "citizen.session.queued@1.0"


def queued(
    *,
    citizen: str,
    trigger: str,
    prompt: str,
    now: datetime,
    notify_chat_id: int | None = None,
    thread_id: str | None = None,
    lead_id: int | None = None,
    draft_id: str | None = None,
    notice_outbox_id: int | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A new session's `QUEUE` parameters, and the payload of its `QUEUED_EVENT`."""
    session_id = str(uuid.uuid4())
    params = {
        "session_id": session_id,
        "citizen": citizen,
        "trigger": trigger,
        "prompt": prompt,
        "notify_chat_id": notify_chat_id,
        "thread_id": thread_id,
        "lead_id": lead_id,
        "draft_id": draft_id,
        "notice_outbox_id": notice_outbox_id,
        "now": now,
    }
    return params, {"session_id": session_id, "citizen": citizen, "trigger": trigger}


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
    """Queue a session. With `thread_id` it continues that thread's conversation of the
    citizen; `lead_id` is given to its drafts; `draft_id` is the draft it redrafts."""
    params, payload = queued(
        citizen=citizen,
        trigger=trigger,
        prompt=prompt,
        now=utcnow(),
        notify_chat_id=notify_chat_id,
        thread_id=thread_id,
        lead_id=lead_id,
        draft_id=draft_id,
    )
    await session.execute(QUEUE.core, QUEUE.own(params))
    await events.append(session=session, event=QUEUED_EVENT, payload=payload)
    await wakeups.notify(session=session, channel=wakeups.SESSIONS)
    row = await session.get(Row, params["session_id"])
    assert row is not None
    return row


async def previous_conversation(*, session: AsyncSession, row: CitizenSession) -> str | None:
    """The conversation id the last session of this citizen on this thread reported: the one
    `row` resumes. None for a session without a thread, or the thread's first."""
    if row.thread_id is None:
        return None
    query = (
        select(col(Row.claude_session_id))
        .where(
            col(Row.thread_id) == row.thread_id,
            col(Row.citizen) == row.citizen,
            col(Row.id) != row.id,
            col(Row.claude_session_id).is_not(None),
        )
        .order_by(col(Row.created_at).desc(), col(Row.id).desc())
        .limit(1)
    )
    return await session.scalar(query)


async def count_ahead(*, session: AsyncSession, row: CitizenSession) -> int:
    """Sessions of the same citizen that will run (or are running) before `row`."""
    query = select(func.count()).where(
        col(Row.citizen) == row.citizen,
        col(Row.id) != row.id,
        (col(Row.status) == "running")
        | ((col(Row.status) == "queued") & (col(Row.created_at) <= row.created_at)),
    )
    return int((await session.execute(query)).scalar_one())


async def citizens_waiting(*, session: AsyncSession) -> list[str]:
    """Citizens with a queued session, the longest-waiting first."""
    query = (
        select(col(Row.citizen), func.min(col(Row.created_at)).label("first"))
        .where(col(Row.status) == "queued")
        .group_by(col(Row.citizen))
        .order_by("first")
    )
    return [citizen for citizen, _ in (await session.execute(query)).all()]


async def claim_next(
    *,
    session: AsyncSession,
    citizen: str,
    claimed_by: str,
    token_hash: str | None = None,
    only_run_anyway: bool = False,
) -> CitizenSession | None:
    """Mark the citizen's oldest queued session running, unless one of its sessions runs.

    `token_hash` is the hash of the token the session's CLI will carry (valid while it runs).
    `only_run_anyway`: the daily budget is spent, so only sessions the operator let past it.
    Two processes racing for one citizen are settled by the partial unique index on running
    sessions: the loser's flush raises IntegrityError, which the caller treats as "busy".
    """
    running = await session.scalar(
        select(col(Row.id))
        .where(col(Row.citizen) == citizen, col(Row.status) == "running")
        .limit(1)
    )
    if running is not None:
        return None
    query = select(Row).where(col(Row.citizen) == citizen, col(Row.status) == "queued")
    if only_run_anyway:
        query = query.where(col(Row.run_anyway).is_(True))
    # Another process claiming the same row skips it rather than waiting for it (PostgreSQL);
    # SQLite has one writer at a time, and the unique index settles the rest.
    query = query.order_by(col(Row.created_at), col(Row.id)).limit(1)
    query = query.with_for_update(skip_locked=True)
    row = await session.scalar(query)
    if row is None:
        return None
    now = utcnow()
    row.status, row.claimed_by, row.started_at, row.heartbeat_at = "running", claimed_by, now, now
    row.token_hash, row.waiting_reason = token_hash, None
    session.add(row)
    await session.flush()
    await events.append(
        session=session,
        event="citizen.session.started@1.0",
        payload={"session_id": row.id, "citizen": citizen, "trigger": row.trigger},
    )
    await wakeups.notify(session=session, channel=wakeups.SESSIONS)  # its notice is queued
    return row


async def set_process(*, session: AsyncSession, session_id: str, pid: int, pgid: int) -> None:
    """Record the CLI's process (group) of a running session, to find it after a crash."""
    await session.execute(
        update(Row)
        .where(col(Row.id) == session_id, col(Row.status) == "running")
        .values(pid=pid, pgid=pgid)
    )


async def renew_leases(
    *, session: AsyncSession, claimed_by: str, session_ids: Sequence[str]
) -> set[str]:
    """Renew the lease of the given sessions this process runs; returns those renewed.

    A session missing from the answer is no longer this process's: it was failed meanwhile
    (its lease had lapsed), so its CLI must stop."""
    if not session_ids:
        return set()
    renewed = await session.scalars(
        update(Row)
        .where(
            col(Row.id).in_(session_ids),
            col(Row.status) == "running",
            col(Row.claimed_by) == claimed_by,
        )
        .values(heartbeat_at=utcnow())
        .returning(col(Row.id))
    )
    return set(renewed.all())


async def count_queued(*, session: AsyncSession) -> int:
    query = select(func.count()).where(col(Row.status) == "queued")
    return int((await session.execute(query)).scalar_one())


async def finish(
    *,
    session: AsyncSession,
    session_id: str,
    status: str,
    exit_code: int | None = None,
    output_tail: str | None = None,
    error: str | None = None,
    result: CliResult | None = None,
) -> CitizenSession | None:
    """Record how a running session ended; None when it is no longer running (reaped).

    Its token stops working here: it is valid only while the session runs."""
    # Locked and read afresh: a copy loaded earlier in this transaction (the reaper's scan)
    # may predate another process failing the same session, which must be seen as ended.
    row = await session.get(Row, session_id, with_for_update=True, populate_existing=True)
    if row is None or row.status != "running":
        return None
    row.status, row.exit_code, row.finished_at = status, exit_code, utcnow()
    row.output_tail, row.error = output_tail, error
    if result is not None:
        row.claude_session_id = result.claude_session_id
        row.cost_usd, row.turns, row.result = result.cost_usd, result.turns, result.text
    session.add(row)
    await session.flush()
    payload: dict[str, Any] = {
        "session_id": row.id,
        "citizen": row.citizen,
        "exit_code": exit_code,
        "duration_s": duration_s(row),
    }
    if row.cost_usd is not None:
        payload["cost_usd"] = row.cost_usd
    if status == "failed":
        payload["error"] = (error or "")[:500]
    await events.append(session=session, event=f"citizen.session.{status}@1.0", payload=payload)
    # The citizen is free: a process with capacity may start its next session now.
    await wakeups.notify(session=session, channel=wakeups.SESSIONS)
    return row


async def fail_abandoned(
    *, session: AsyncSession, is_abandoned: Callable[[CitizenSession], bool], reason: str
) -> list[CitizenSession]:
    """Fail every running session whose runner is gone (crashed, restarted, or silent)."""
    rows = (await session.scalars(select(Row).where(col(Row.status) == "running"))).all()
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
