"""What each scenario sends: bodies for the writes, path lists for the reads."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

import asyncpg

from bench.database import EVENT_MIX, RARE_OLD_EVENT
from bench.load import Load
from bench.webhook import signed_requests
from web.pagination import id_cursor

PAGE = 100
PATHS_PER_SCENARIO = 1000
# `since` windows reach this far back from the newest event, at most.
SINCE_REACH = timedelta(days=7)

BY_EVENT = "GET /api/events?event="
BY_SINCE = "GET /api/events?since="
BY_CURSOR = "GET /api/events?cursor="
EVENT_QUERY_NAMES = (BY_EVENT, BY_SINCE, BY_CURSOR)
READ_DRAFT = "GET /api/draft/{id}"
READ_THREAD = "GET /api/thread/{id} @500 messages"
WEBHOOK = "POST /webhook/upwork-response"  # its second word is the path wrk is pointed at

EVENT_BODY = {
    "event": "bench.event.logged@1.0",
    "payload": {"citizen": "rafael", "step": "reply.drafted", "attempt": 1, "ok": True},
}
DRAFT_BODY = {
    "client": "Acme Robotics GmbH",
    "job_title": "Senior backend engineer for a Telegram approval bot",
    "message": "Hi! We saw your profile. Could you start next week? " * 8,
    "draft_text": "Thanks for reaching out. Here is how I would approach it: " * 12,
    "confidence": 87,
    "context": {"job_link": "https://example.com/jobs/123", "budget": "$5k", "tags": ["python"]},
    "citizen": "rafael",
}


@dataclass(frozen=True)
class Scenario:
    name: str
    load: Load
    events: int | None = None
    """The size of the event log it runs against, for the event queries."""
    notifies: bool = False
    """Its work ends when Telegram has the card: a round lasts until no card waits."""
    target_p99_ms: float | None = None
    """An absolute target instead of a ceiling: the scenario runs against the service alone."""

    @property
    def label(self) -> str:
        return self.name if self.events is None else f"{self.name} @{_short(self.events)}"


def _short(count: int) -> str:
    if count >= 1_000_000:
        return f"{count // 1_000_000}M"
    return f"{count // 1000}k" if count >= 1000 else str(count)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


STATS = "GET /api/stats?days=30"
STATS_TARGET_P99_MS = 100.0
# The operator and a Mini App looking at once: a dashboard, not a public endpoint.
STATS_CONNECTIONS = 2


def stats_scenario() -> Scenario:
    """The operator's numbers over 30 days, at 100k drafts and 1M events (no ceiling: the
    statements are the service's own; the target is p99 < 100 ms)."""
    load = Load("GET", paths=("/api/stats?days=30",), connections=STATS_CONNECTIONS)
    return Scenario(STATS, load, target_p99_ms=STATS_TARGET_P99_MS)


def write_scenarios() -> list[Scenario]:
    return [
        Scenario("POST /api/event/log", Load("POST", json.dumps(EVENT_BODY).encode())),
        Scenario(
            "POST /api/draft/create", Load("POST", json.dumps(DRAFT_BODY).encode()), notifies=True
        ),
    ]


async def read_draft_scenario(url: str) -> Scenario:
    connection = await asyncpg.connect(url)
    try:
        ids = [r[0] for r in await connection.fetch("SELECT id FROM drafts LIMIT $1", 1000)]
    finally:
        await connection.close()
    if not ids:
        raise RuntimeError("no drafts to read: the draft scenario stored none")
    paths = tuple(f"/api/draft/{draft_id}" for draft_id in ids)
    return Scenario(READ_DRAFT, Load("GET", paths=paths))


async def event_query_scenarios(url: str, size: int) -> list[Scenario]:
    """The three reads of the event log, against a table of `size` events."""
    connection = await asyncpg.connect(url)
    try:
        low, high, newest = await connection.fetchrow(
            "SELECT min(id), max(id), max(timestamp) FROM events"
        )
    finally:
        await connection.close()
    rng = random.Random(size)
    names = [*(name for name, _ in EVENT_MIX), RARE_OLD_EVENT]
    by_event = tuple(f"/api/events?event={name}&limit={PAGE}" for name in names)
    since = tuple(
        f"/api/events?since={_iso(newest - SINCE_REACH * rng.random())}&limit={PAGE}"
        for _ in range(PATHS_PER_SCENARIO)
    )
    # Cursors as the service issues them, at every depth of the log.
    paged = tuple(
        f"/api/events?cursor={id_cursor('events', rng.randint(low + PAGE, high))}&limit={PAGE}"
        for _ in range(PATHS_PER_SCENARIO)
    )
    return [
        Scenario(BY_EVENT, Load("GET", paths=by_event), size),
        Scenario(BY_SINCE, Load("GET", paths=since), size),
        Scenario(BY_CURSOR, Load("GET", paths=paged), size),
    ]


def thread_view_scenario(thread_ids: list[str]) -> Scenario:
    """A thread of 500 messages, with its drafts, feedback and sessions."""
    paths = tuple(f"/api/thread/{thread_id}" for thread_id in thread_ids)
    return Scenario(READ_THREAD, Load("GET", paths=paths))


def webhook_scenario(secret: str) -> Scenario:
    """A client's signed reply: it joins its thread and queues a session (whose notice goes
    to Telegram: a round lasts until it has)."""
    load = Load("POST", signed=partial(signed_requests, secret))
    return Scenario(WEBHOOK, load, notifies=True)
