"""`GET /health`: is the database reachable, is Telegram delivering, and who runs sessions.

`telegram` is "degraded" while Telegram is unreachable, while messages wait on failed
attempts, and for 24 h after a message was dead-lettered (`telegram_dead_letters` counts
those: refused for good, or failed too often; see bot/telegram/sender.py). `workers` counts the
processes running citizen sessions seen within SESSION_LEASE_S; `sessions_queued` the waiting.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from aiohttp import web

from storage.engine import session_factory
from storage.repo import citizen_queue, outbox, workers
from storage.types import utcnow
from web.endpoints import Endpoint
from web.errors import is_database_down
from web.keys import ENGINE, NOTIFIER, SETTINGS
from web.schemas import Health

DATABASE_CHECK_TIMEOUT_S = 3
DEAD_LETTERS_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class _Counts:
    dead_letters: int
    workers: int
    sessions_queued: int


async def get_health(request: web.Request) -> web.Response:
    telegram = request.app[NOTIFIER].status
    counts = await _counts(request)
    database_ok = counts is not None
    dead = counts.dead_letters if counts is not None else None
    if telegram == "disabled":
        dead = None  # no bot, no count: the contract's three fields
    elif telegram == "ok" and dead:
        telegram = "degraded"
    health = Health(
        status="ok" if database_ok else "error",
        database="ok" if database_ok else "error",
        telegram=telegram,
        telegram_dead_letters=dead,
        workers=counts.workers if counts is not None else None,
        sessions_queued=counts.sessions_queued if counts is not None else None,
    )
    # Without the database the count is unknown: the field is left out, not null.
    return web.Response(
        body=health.model_dump_json(exclude_none=True).encode(),
        status=200 if database_ok else 503,
        content_type="application/json",
    )


async def _counts(request: web.Request) -> _Counts | None:
    """What the database says; None while it is down."""
    lease = timedelta(seconds=request.app[SETTINGS].session_lease_s)
    try:
        async with asyncio.timeout(DATABASE_CHECK_TIMEOUT_S):
            async with session_factory(request.app[ENGINE])() as session:
                now = utcnow()
                return _Counts(
                    dead_letters=await outbox.count_dead_since(
                        session=session, since=now - DEAD_LETTERS_WINDOW
                    ),
                    workers=await workers.count_live(session=session, since=now - lease),
                    sessions_queued=await citizen_queue.count_queued(session=session),
                )
    except Exception as error:
        if is_database_down(error):
            return None
        raise


ENDPOINTS = [
    Endpoint(
        "GET",
        "/health",
        get_health,
        "Liveness: database and Telegram status, live workers and queued sessions.",
        responses={200: Health, 503: Health},
        security=None,
    ),
]
