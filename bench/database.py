"""The bench's own PostgreSQL database: created fresh, seeded in bulk with COPY, dropped after."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

import asyncpg

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
COPY_CHUNK = 50_000
# Seeded events are this far apart: a million of them make about a year of a busy log.
EVENT_INTERVAL = timedelta(seconds=30)

# (name, weight): the event names a busy deployment writes, in rough proportion.
EVENT_MIX = (
    ("draft.created@1.0", 10),
    ("draft.approved@1.0", 7),
    ("draft.rejected@1.0", 2),
    ("draft.edited@1.0", 1),
    ("lead.tracked@1.0", 20),
    ("lead.sent@1.0", 5),
    ("upwork.response.received@1.0", 10),
    ("citizen.session.queued@1.0", 10),
    ("citizen.session.started@1.0", 10),
    ("citizen.session.completed@1.0", 9),
    ("citizen.session.failed@1.0", 1),
    ("rafael.reply.sent@1.0", 8),
    ("emma.lead.scored@1.0", 7),
)
FILTERED_EVENT = "lead.sent@1.0"
# A name found only at the very start of the log: the query for it must use the (event, id)
# index, as a walk back along the primary key would read the whole table to find it.
RARE_OLD_EVENT = "legacy.import@1.0"
RARE_OLD_EVERY, RARE_OLD_BEFORE = 100, 5000


def database_url(admin_url: str, name: str) -> str:
    return f"{admin_url.rpartition('/')[0]}/{name}"


@asynccontextmanager
async def fresh_database(admin_url: str) -> AsyncIterator[str]:
    """A new, empty database for this run alone; dropped afterwards whatever happens."""
    name = f"scopelock_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(admin_url, timeout=5)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield database_url(admin_url, name)
    finally:
        admin = await asyncpg.connect(admin_url, timeout=5)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def _events(count: int, start: datetime, step: timedelta, first: int) -> Iterator[tuple]:
    """`count` events from the `first`-th event of the log on."""
    rng = random.Random(first)
    names = [name for name, _ in EVENT_MIX]
    weights = [weight for _, weight in EVENT_MIX]
    for i, name in enumerate(rng.choices(names, weights, k=count)):
        n = first + i
        if n < RARE_OLD_BEFORE and n % RARE_OLD_EVERY == 0:
            name = RARE_OLD_EVENT
        payload = {
            "draft_id": str(uuid.UUID(int=rng.getrandbits(128))),
            "client": f"client-{rng.randrange(5000)}",
            "confidence": rng.randrange(101),
            "note": "seeded by bench",
        }
        yield name, start + step * i, json.dumps(payload)


async def seed_events(url: str, total: int, *, origin: datetime) -> int:
    """Top the events table up to `total` rows with COPY; returns how many were added.

    The n-th event of the table is stamped `origin + n * EVENT_INTERVAL`, so every top-up
    continues the time line of the last one, as an append-only log grows.
    """
    connection = await asyncpg.connect(url)
    try:
        have = await connection.fetchval("SELECT count(*) FROM events")
        missing = max(0, total - have)
        if missing == 0:
            return 0
        rows = _events(missing, origin + EVENT_INTERVAL * have, EVENT_INTERVAL, first=have)
        while chunk := [row for _, row in zip(range(COPY_CHUNK), rows, strict=False)]:
            await connection.copy_records_to_table(
                "events", records=chunk, columns=["event", "timestamp", "payload"]
            )
        # What autovacuum would do soon after: fresh statistics and a visibility map.
        await connection.execute("VACUUM ANALYZE events")
        return missing
    finally:
        await connection.close()


async def event_bounds(url: str) -> tuple[int, int, datetime, datetime]:
    """(min id, max id, oldest timestamp, newest timestamp) of the events table."""
    connection = await asyncpg.connect(url)
    try:
        row = await connection.fetchrow(
            "SELECT min(id), max(id), min(timestamp), max(timestamp) FROM events"
        )
    finally:
        await connection.close()
    return row[0], row[1], row[2], row[3]


async def explain(url: str, sql: str, *args: object) -> str:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", *args)
    finally:
        await connection.close()
    return "\n".join(row[0] for row in rows)
