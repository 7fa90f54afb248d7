"""Real databases for tests: a SQLite file per test, or a fresh PostgreSQL database per test.

PostgreSQL databases are cloned from a template migrated once per run, so each test starts
from an empty, fully migrated schema, and two runs never share a database.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import uuid
from collections.abc import Coroutine
from typing import Any, TypeVar

import asyncpg
import pytest

T = TypeVar("T")

ADMIN_URL = os.environ.get(
    "SCOPELOCK_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
# CI (`CI=true`, as CI runs `.ci/run`) never skips a PostgreSQL test: it fails instead.
REQUIRE_POSTGRES = any(
    os.environ.get(name, "") not in ("", "0", "false")
    for name in ("SCOPELOCK_REQUIRE_POSTGRES", "CI")
)


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion on a private loop in another thread.

    Sync fixtures use it so they never touch the event loop pytest-asyncio gives the test.
    """
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def database_url(name: str) -> str:
    """The asyncpg URL of database `name` on the admin server."""
    base, _, _ = ADMIN_URL.rpartition("/")
    return f"{base}/{name}"


async def _admin(sql: str) -> None:
    connection = await asyncpg.connect(ADMIN_URL, timeout=5)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def postgres_available() -> str | None:
    """None when the admin server answers; otherwise why not."""
    try:
        run_sync(_admin("SELECT 1"))
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        return f"PostgreSQL is not reachable at {ADMIN_URL} ({type(error).__name__})"
    return None


def require_postgres() -> None:
    """Skip (locally) or fail (CI, SCOPELOCK_REQUIRE_POSTGRES=1) when PostgreSQL is absent."""
    reason = postgres_available()
    if reason is None:
        return
    if REQUIRE_POSTGRES:
        pytest.fail(f"{reason}, and SCOPELOCK_REQUIRE_POSTGRES is set", pytrace=False)
    pytest.skip(f"{reason}; set SCOPELOCK_TEST_POSTGRES_URL to run the PostgreSQL tests")


class PostgresDatabases:
    """Creates per-test databases from a template migrated once for this run."""

    def __init__(self) -> None:
        self.run_id = uuid.uuid4().hex[:10]
        self.template = f"scopelock_tpl_{self.run_id}"
        self._created: list[str] = []
        # Dropping a database is slow (it waits for a checkpoint): do it while the next test
        # runs, one at a time, and wait for the stragglers at the end of the run.
        self._dropper = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        self._drops: list[concurrent.futures.Future[None]] = []

    def create_template(self) -> None:
        from storage.engine import create_engine
        from storage.migrate import upgrade_to_head

        async def create() -> None:
            await _admin(f'CREATE DATABASE "{self.template}"')
            engine = create_engine(_sa_url(database_url(self.template)))
            try:
                await upgrade_to_head(engine)
            finally:
                await engine.dispose()

        run_sync(create())

    def new_database(self, *, migrated: bool = True) -> str:
        name = f"scopelock_t_{self.run_id}_{len(self._created)}"
        template = f' TEMPLATE "{self.template}"' if migrated else ""
        run_sync(_admin(f'CREATE DATABASE "{name}"{template}'))
        self._created.append(name)
        return database_url(name)

    def drop(self, url: str) -> None:
        """Drop the database in the background; the test that used it has finished with it."""
        name = url.rpartition("/")[2]
        sql = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
        self._drops.append(self._dropper.submit(asyncio.run, _admin(sql)))

    def drop_all(self) -> None:
        self._dropper.shutdown(wait=True)
        for drop in self._drops:
            drop.exception()  # a failed background drop is retried below
        for name in [*self._created, self.template]:
            run_sync(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _sa_url(url: str) -> str:
    return "postgresql+asyncpg://" + url.removeprefix("postgresql://")
