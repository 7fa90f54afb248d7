"""Rows for the thread scenarios: long threads to read, and a session that keeps the citizen
runner from launching anything while webhooks queue sessions."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

THREADS = 10
MESSAGES = 500
DRAFTS = 25
SESSIONS = 25
# A client's message and the operator's reply, about the lengths Upwork's messages run to.
IN_TEXT = 'Thanks for the proposal. Could you also handle the "admin" panel? — Jürgen\n' * 4
OUT_TEXT = "Happy to. The admin panel adds two days; here is how I would split the work.\n" * 5


async def seed_threads(url: str) -> list[str]:
    """`THREADS` threads of `MESSAGES` messages each, with drafts in every status, the
    operator's feedback on some, and the sessions that wrote them; returns their ids."""
    rng = random.Random(500)
    start = datetime.now(UTC) - timedelta(days=60)
    thread_rows: list[tuple[Any, ...]] = []
    messages: list[tuple[Any, ...]] = []
    drafts: list[tuple[Any, ...]] = []
    feedback: list[tuple[Any, ...]] = []
    sessions: list[tuple[Any, ...]] = []
    statuses = ("sent", "rejected", "superseded", "approved", "pending")
    for t in range(THREADS):
        thread_id = str(uuid.uuid4())
        at = start + timedelta(hours=t)
        last = at + timedelta(minutes=10 * MESSAGES)
        thread_rows.append(
            (
                thread_id,
                "upwork",
                f"Bench Client {t}",
                "Telegram approval bot",
                f"https://www.upwork.com/jobs/~bench{t}",
                at,
                last,
                last if t % 2 else None,
                f"bench client {t}",
                "telegram approval bot",
            )
        )
        draft_ids = []
        for d in range(DRAFTS):
            draft_id = str(uuid.uuid4())
            draft_ids.append(draft_id)
            created = at + timedelta(minutes=20 * MESSAGES * d // DRAFTS)
            status = statuses[d % len(statuses)] if d < DRAFTS - 1 else "pending"
            decided = None if status in ("pending", "superseded") else created
            drafts.append(
                (
                    draft_id,
                    f"Bench Client {t}",
                    "Telegram approval bot",
                    IN_TEXT,
                    OUT_TEXT,
                    rng.randrange(30, 100),
                    "{}",
                    "rafael",
                    status,
                    created,
                    created,
                    decided,
                    created if status == "sent" else None,
                    "The client asked about the price twice." if d % 3 == 0 else None,
                    thread_id,
                    f"bench client {t}",
                )
            )
            if d % 2 == 0:
                feedback.append((draft_id, "edit", OUT_TEXT[:200], OUT_TEXT[:180], created))
            if status == "rejected":
                feedback.append((draft_id, "reject_reason", "Too long", None, created))
        for m in range(MESSAGES):
            out = m % 2 == 1
            messages.append(
                (
                    thread_id,
                    "out" if out else "in",
                    OUT_TEXT if out else IN_TEXT,
                    at + timedelta(minutes=10 * m),
                    draft_ids[m * DRAFTS // MESSAGES] if out and m % 4 == 1 else None,
                )
            )
        for s in range(SESSIONS):
            created = at + timedelta(minutes=20 * MESSAGES * s // SESSIONS)
            sessions.append(
                (
                    str(uuid.uuid4()),
                    "rafael",
                    "upwork-response",
                    "prompt",
                    "completed" if s % 5 else "failed",
                    created,
                    thread_id,
                    round(rng.uniform(0.01, 0.4), 4) if s % 5 else None,
                )
            )
    connection = await asyncpg.connect(url)
    try:
        async with connection.transaction():
            await connection.copy_records_to_table(
                "threads",
                records=thread_rows,
                columns=[
                    "id",
                    "platform",
                    "client",
                    "job_title",
                    "job_link",
                    "created_at",
                    "last_message_at",
                    "waiting_since",
                    "client_key",
                    "job_title_key",
                ],
            )
            await connection.executemany(
                """INSERT INTO drafts (id, client, job_title, message, draft_text, confidence,
                       context, citizen, status, created_at, updated_at, decided_at, sent_at,
                       note, thread_id, client_key)
                   VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10, $11, $12, $13, $14,
                           $15, $16)""",
                drafts,
            )
            await connection.copy_records_to_table(
                "thread_messages",
                records=messages,
                columns=["thread_id", "direction", "text", "at", "draft_id"],
            )
            await connection.copy_records_to_table(
                "draft_feedback",
                records=feedback,
                columns=["draft_id", "kind", "text", "old_text", "at"],
            )
            await connection.copy_records_to_table(
                "sessions",
                records=sessions,
                columns=[
                    "id",
                    "citizen",
                    "trigger",
                    "prompt",
                    "status",
                    "created_at",
                    "thread_id",
                    "cost_usd",
                ],
            )
        await connection.execute("ANALYZE")
    finally:
        await connection.close()
    return [row[0] for row in thread_rows]


async def hold_citizen_runner(url: str, citizen: str = "rafael") -> None:
    """A session of `citizen` running elsewhere, with a heartbeat in the future: the service's
    runner then starts none of the sessions the webhooks queue (one runs per citizen) and
    never reaps it. The sessions' queued notices still go out, as they would."""
    now = datetime.now(UTC)
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(
            """INSERT INTO sessions (id, citizen, trigger, prompt, status, created_at,
                   started_at, heartbeat_at, claimed_by)
               VALUES ($1, $2, 'bench', 'held', 'running', $3, $3, $4, 'bench-elsewhere:1:x')""",
            str(uuid.uuid4()),
            citizen,
            now,
            now + timedelta(days=1),
        )
    finally:
        await connection.close()
