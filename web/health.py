"""`GET /health`: is the database reachable, and is Telegram delivering.

`telegram` is "degraded" while Telegram is unreachable, while messages wait on failed
attempts, and for 24 h after a message was dead-lettered (`telegram_dead_letters` counts
those: refused for good, or failed too often; see bot/telegram/sender.py).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from aiohttp import web

from storage.engine import session_factory
from storage.repo import outbox
from storage.types import utcnow
from web.endpoints import Endpoint
from web.errors import is_database_down
from web.keys import ENGINE, NOTIFIER
from web.schemas import Health

DATABASE_CHECK_TIMEOUT_S = 3
DEAD_LETTERS_WINDOW = timedelta(hours=24)


async def get_health(request: web.Request) -> web.Response:
    telegram = request.app[NOTIFIER].status
    dead = await _dead_letters(request)
    database_ok = dead is not None
    if telegram == "disabled":
        dead = None  # no bot, no count: the contract's three fields
    elif telegram == "ok" and dead:
        telegram = "degraded"
    health = Health(
        status="ok" if database_ok else "error",
        database="ok" if database_ok else "error",
        telegram=telegram,
        telegram_dead_letters=dead,
    )
    # Without the database the count is unknown: the field is left out, not null.
    return web.Response(
        body=health.model_dump_json(exclude_none=True).encode(),
        status=200 if database_ok else 503,
        content_type="application/json",
    )


async def _dead_letters(request: web.Request) -> int | None:
    """Outbox messages dead-lettered in the last 24 h; None while the database is down."""
    try:
        async with asyncio.timeout(DATABASE_CHECK_TIMEOUT_S):
            async with session_factory(request.app[ENGINE])() as session:
                since = utcnow() - DEAD_LETTERS_WINDOW
                return await outbox.count_dead_since(session=session, since=since)
    except Exception as error:
        if is_database_down(error):
            return None
        raise


ENDPOINTS = [
    Endpoint(
        "GET",
        "/health",
        get_health,
        "Liveness: database and Telegram status.",
        responses={200: Health, 503: Health},
        security=None,
    ),
]
