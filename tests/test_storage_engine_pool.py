"""The PostgreSQL pool hands out only live connections (it does not pre-ping them)."""

from __future__ import annotations

import asyncio

import asyncpg
from sqlalchemy import text

from storage.engine import create_engine
from tests.databases import ADMIN_URL, PostgresDatabases


async def _terminate(pid: int) -> None:
    """Kill one backend, and wait until the server has let it go."""
    admin = await asyncpg.connect(ADMIN_URL, timeout=5)
    try:
        await admin.execute("SELECT pg_terminate_backend($1)", pid)
        for _ in range(100):
            gone = await admin.fetchval(
                "SELECT NOT EXISTS (SELECT FROM pg_stat_activity WHERE pid = $1)", pid
            )
            if gone:
                break
            await asyncio.sleep(0.02)
    finally:
        await admin.close()


async def test_a_connection_the_server_closed_is_replaced_not_used(
    postgres_databases: PostgresDatabases,
) -> None:
    url = postgres_databases.new_database()
    engine = create_engine(
        "postgresql+asyncpg://" + url.removeprefix("postgresql://"), pool_size=1
    )
    try:
        async with engine.connect() as connection:
            first_pid = await connection.scalar(text("SELECT pg_backend_pid()"))
        await _terminate(first_pid)
        await asyncio.sleep(0.1)  # let the event loop read the server's goodbye

        async with engine.connect() as connection:
            second_pid = await connection.scalar(text("SELECT pg_backend_pid()"))
        assert second_pid != first_pid
    finally:
        await engine.dispose()
        postgres_databases.drop(url)
