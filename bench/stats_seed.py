"""Rows for the /api/stats scenario: 100k drafts over a year, with their threads, messages,
feedback, sessions and leads, seeded with COPY (the event log is seeded by bench.database)."""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

DRAFTS = 100_000
YEAR = timedelta(days=365)
CITIZENS = ("rafael", "emma", "daniel")
# (status, weight) of a draft a year into the service.
STATUSES = (("approved", 45), ("sent", 25), ("rejected", 12), ("superseded", 14), ("pending", 4))


async def seed_stats(url: str, *, drafts: int = DRAFTS, now: datetime | None = None) -> int:
    """Seed `drafts` drafts (and what goes with them) unless drafts are there; returns how many
    drafts were added."""
    now = now or datetime.now(UTC)
    connection = await asyncpg.connect(url)
    try:
        if await connection.fetchval("SELECT count(*) FROM drafts") >= drafts:
            return 0
        rng = random.Random(drafts)
        leads = [_lead(rng, now) for _ in range(drafts // 5)]
        await connection.copy_records_to_table(
            "leads",
            records=leads,
            columns=["platform", "title", "budget", "decision", "reason", "sent", "created_at",
                     "updated_at"],
        )  # fmt: skip
        lead_ids = [r[0] for r in await connection.fetch("SELECT id FROM leads")]
        threads, messages, rows, feedback, sessions = [], [], [], [], []
        for _ in range(-(-drafts // 3)):
            thread_id = str(uuid.uuid4())
            start = now - YEAR * rng.random()
            threads.append((thread_id, "upwork", "Client", "client", start, start))
            for n in range(2):
                messages.append(
                    (thread_id, "in" if n == 0 else "out", "…", start + timedelta(hours=n * 3))
                )
            for _ in range(3):
                created = start + timedelta(minutes=rng.randint(5, 120))
                rows.append(_draft(rng, created, thread_id, rng.choice(lead_ids)))
        rows = rows[:drafts]
        for row in rows:
            if row[8] in ("approved", "sent") and rng.random() < 0.3:
                feedback.append((row[0], "edit", "new", row[11]))
            elif row[8] == "superseded" and rng.random() < 0.5:
                feedback.append((row[0], "redraft", "shorter", row[11]))
        for _ in range(drafts):
            started = now - YEAR * rng.random()
            ended = started + timedelta(minutes=2)
            cost = round(rng.uniform(0.01, 0.6), 4)
            citizen = rng.choice(CITIZENS)
            sessions.append(
                (str(uuid.uuid4()), citizen, "webhook", "p", "completed", started, started, ended,
                 cost)
            )  # fmt: skip
        await connection.copy_records_to_table(
            "threads",
            records=threads,
            columns=["id", "platform", "client", "client_key", "created_at", "last_message_at"],
        )
        await connection.copy_records_to_table(
            "thread_messages", records=messages, columns=["thread_id", "direction", "text", "at"]
        )
        await connection.copy_records_to_table(
            "drafts",
            records=rows,
            columns=["id", "client", "job_title", "message", "draft_text", "confidence",
                     "context", "citizen", "status", "created_at", "updated_at", "decided_at",
                     "thread_id", "lead_id", "sent_at", "client_key"],
        )  # fmt: skip
        await connection.copy_records_to_table(
            "draft_feedback", records=feedback, columns=["draft_id", "kind", "text", "at"]
        )
        await connection.copy_records_to_table(
            "sessions",
            records=sessions,
            columns=["id", "citizen", "trigger", "prompt", "status", "created_at", "started_at",
                     "finished_at", "cost_usd"],
        )  # fmt: skip
        for table in (
            "leads",
            "threads",
            "thread_messages",
            "drafts",
            "draft_feedback",
            "sessions",
        ):
            await connection.execute(f"VACUUM ANALYZE {table}")
        return len(rows)
    finally:
        await connection.close()


def _lead(rng: random.Random, now: datetime) -> tuple[object, ...]:
    created = now - YEAR * rng.random()
    go = rng.random() < 0.4
    return (
        "upwork", "A job", "$1k", "GO" if go else "NO-GO", "seeded", go and rng.random() < 0.3,
        created, created,
    )  # fmt: skip


def _draft(
    rng: random.Random, created: datetime, thread_id: str, lead_id: int
) -> tuple[object, ...]:
    status = rng.choices([s for s, _ in STATUSES], [w for _, w in STATUSES])[0]
    decided = None if status == "pending" else created + timedelta(minutes=rng.randint(1, 600))
    sent = decided + timedelta(minutes=5) if status == "sent" and decided else None
    return (
        str(uuid.uuid4()), "Client", "A job", "Hi", "Hello", 80, json.dumps({}),
        rng.choice(CITIZENS), status, created, decided or created, decided, thread_id,
        lead_id if rng.random() < 0.1 else None, sent, "client",
    )  # fmt: skip
