"""503 in the contract's error shape while the database is unreachable (CONTRACT §3).

No test here takes `database_url`: the databases are unreachable on purpose, one per backend.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.settings import Settings
from storage.engine import create_engine
from tests.conftest import API_TOKEN
from tests.databases import ADMIN_URL, _admin, require_postgres, run_sync
from tests.factories import database_route_requests, draft_body
from tests.paging import assert_error
from web.app import create_app

# A bound on each request, not a speed check: only a request that hangs would reach it.
ANSWER_WITHIN_S = 30
DB_PASSWORD = "db-pass-7d1e"


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port bound (so nothing else takes it) but not listening: connects are refused."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    yield sock.getsockname()[1]
    sock.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def unreachable_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'scopelock.db'}"
    port = request.getfixturevalue("closed_port")
    return f"postgresql+asyncpg://postgres:{DB_PASSWORD}@127.0.0.1:{port}/scopelock"


@pytest.fixture
async def down_api(aiohttp_client: Any, unreachable_url: str) -> AsyncIterator[TestClient]:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, database_url=unreachable_url, api_token=API_TOKEN, environment="test"
    )
    before = set(threading.enumerate())
    engine = create_engine(settings.database_url)
    client: TestClient = await aiohttp_client(create_app(settings, engine))
    client.session.headers["Authorization"] = f"Bearer {API_TOKEN}"
    yield client
    await engine.dispose()
    await _settle_aiosqlite_threads(before)


async def _settle_aiosqlite_threads(before: set[threading.Thread]) -> None:
    """Let the aiosqlite workers this test started finish while its loop still runs.

    A failed connect makes aiosqlite queue its worker's stop without awaiting it; the worker
    then reports to the loop, which must not have been closed by the end of the test. Workers
    of other tests' engines (still open, or idle in a pool) are not this test's to wait for.
    """
    for thread in set(threading.enumerate()) - before:
        if thread.name.endswith("(_connection_worker_thread)"):
            await asyncio.to_thread(thread.join, ANSWER_WITHIN_S)


async def test_health_is_503_with_database_error(down_api: TestClient) -> None:
    async with asyncio.timeout(ANSWER_WITHIN_S):
        response = await down_api.get("/health")
    assert response.status == 503
    assert await response.json() == {
        "status": "error",
        "database": "error",
        "telegram": "disabled",
    }


async def test_every_database_route_is_503_in_the_error_shape(
    down_api: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    requests = database_route_requests()
    with caplog.at_level(logging.DEBUG):
        for method, path, body in requests:
            async with asyncio.timeout(ANSWER_WITHIN_S):
                response = await down_api.request(method, path, json=body)
            error = await assert_error(response, 503, "database_unavailable")
            assert DB_PASSWORD not in str(error)
        response = await down_api.post(
            "/api/draft/create", json=draft_body(), headers={"Idempotency-Key": "k"}
        )
        await assert_error(response, 503, "database_unavailable")
    assert DB_PASSWORD not in caplog.text
    assert API_TOKEN not in caplog.text


async def test_what_needs_no_database_still_answers(down_api: TestClient) -> None:
    assert (await down_api.get("/api/openapi.json")).status == 200
    # Requests refused before any database work keep their own status.
    response = await down_api.post("/api/draft/create", json={"client": ""})
    await assert_error(response, 422, "validation_error")
    response = await down_api.get("/api/drafts", params={"limit": "0"})
    await assert_error(response, 400, "invalid_query")
    response = await down_api.get("/api/drafts", headers={"Authorization": "Bearer nope"})
    await assert_error(response, 401, "unauthorized")


async def test_a_server_that_never_answers_is_503_after_the_connect_timeout(
    aiohttp_client: Any,
) -> None:
    """PostgreSQL accepting connections but saying nothing (overloaded, half-dead)."""
    silent = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # the kernel completes the handshake; nobody ever reads or answers
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{silent.getsockname()[1]}/scopelock"
    settings = Settings(_env_file=None, database_url=url, environment="test")  # type: ignore[call-arg]
    engine = create_engine(settings.database_url)
    try:
        client: TestClient = await aiohttp_client(create_app(settings, engine))
        async with asyncio.timeout(ANSWER_WITHIN_S):
            health, drafts = await asyncio.gather(client.get("/health"), client.get("/api/drafts"))
        assert health.status == 503
        assert (await health.json())["database"] == "error"
        await assert_error(drafts, 503, "database_unavailable")
    finally:
        await engine.dispose()
        silent.close()


@pytest.fixture
def refusing_urls() -> Iterator[list[str]]:
    """PostgreSQL up but refusing this service: a missing database, no connection slot left,
    a database not accepting connections (`ALLOW_CONNECTIONS false`, as while it is moved)."""
    require_postgres()
    role = f"scopelock_full_{uuid.uuid4().hex[:8]}"
    closed = f"scopelock_closed_{uuid.uuid4().hex[:8]}"
    run_sync(_admin(f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT 0'))
    run_sync(_admin(f'CREATE DATABASE "{closed}"'))
    run_sync(_admin(f'ALTER DATABASE "{closed}" ALLOW_CONNECTIONS false'))
    server = ADMIN_URL.removeprefix("postgresql://").partition("@")[2].rpartition("/")[0]
    try:
        yield [
            f"postgresql+asyncpg://postgres@{server}/scopelock_missing_{uuid.uuid4().hex[:8]}",
            f"postgresql+asyncpg://{role}@{server}/postgres",
            f"postgresql+asyncpg://postgres@{server}/{closed}",
        ]
    finally:
        run_sync(_admin(f'DROP ROLE IF EXISTS "{role}"'))
        run_sync(_admin(f'DROP DATABASE IF EXISTS "{closed}"'))


async def test_a_server_that_refuses_this_service_is_503(
    aiohttp_client: Any, refusing_urls: list[str]
) -> None:
    for url in refusing_urls:
        settings = Settings(_env_file=None, database_url=url, environment="test")  # type: ignore[call-arg]
        engine = create_engine(settings.database_url)
        try:
            client: TestClient = await aiohttp_client(create_app(settings, engine))
            async with asyncio.timeout(ANSWER_WITHIN_S):
                health = await client.get("/health")
                drafts = await client.get("/api/drafts")
            assert (health.status, (await health.json())["database"]) == (503, "error"), url
            await assert_error(drafts, 503, "database_unavailable")
        finally:
            await engine.dispose()
