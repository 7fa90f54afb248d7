"""`GET /health`: is the database reachable, and is Telegram delivering."""

from __future__ import annotations

import asyncio

from aiohttp import web
from sqlalchemy import text

from web.endpoints import Endpoint, json_response
from web.errors import is_database_down
from web.keys import ENGINE, NOTIFIER
from web.schemas import Health

DATABASE_CHECK_TIMEOUT_S = 3


async def get_health(request: web.Request) -> web.Response:
    database_ok = await _database_ok(request)
    health = Health(
        status="ok" if database_ok else "error",
        database="ok" if database_ok else "error",
        telegram=request.app[NOTIFIER].status,
    )
    return json_response(health, status=200 if database_ok else 503)


async def _database_ok(request: web.Request) -> bool:
    try:
        async with asyncio.timeout(DATABASE_CHECK_TIMEOUT_S):
            async with request.app[ENGINE].connect() as connection:
                await connection.execute(text("SELECT 1"))
    except Exception as error:
        if is_database_down(error):
            return False
        raise
    return True


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
