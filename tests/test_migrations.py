"""Migrations, on SQLite and PostgreSQL: from an empty database to head, `scopelock migrate`
run twice, models and migration in agreement, and the append-only `events` table.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.settings import load_settings
from storage import models  # noqa: F401  (registers every table on the metadata)
from storage.engine import create_engine
from storage.migrate import upgrade_to, upgrade_to_head
from storage.models import SQLModel
from tests.schema_support import head_revision
from tests.service_process import clean_env, run_once, venv_bin

# Created by raw SQL in the migration, deliberately not in the models (see 0001).
MIGRATION_ONLY_INDEXES = {"ix_events_event_pattern"}


@pytest.fixture
async def empty_engine(empty_database: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(load_settings(database_url=empty_database).database_url)
    yield engine
    await engine.dispose()


def schema_state(connection: Connection) -> dict[str, Any]:
    inspector = inspect(connection)
    revision = MigrationContext.configure(connection).get_current_revision()
    return {"tables": set(inspector.get_table_names()), "revision": revision}


async def test_upgrade_from_empty_creates_every_table(empty_engine: AsyncEngine) -> None:
    async with empty_engine.connect() as connection:
        before = await connection.run_sync(schema_state)
    assert before == {"tables": set(), "revision": None}

    await upgrade_to_head(empty_engine)

    async with empty_engine.connect() as connection:
        after = await connection.run_sync(schema_state)
    assert after["tables"] == {*SQLModel.metadata.tables, "alembic_version"}
    assert after["revision"] == head_revision()


def thread_indexes(connection: Connection) -> set[str]:
    return {index["name"] for index in inspect(connection).get_indexes("threads")}


async def test_0015_drops_the_unused_client_index_and_keeps_the_threads(
    empty_engine: AsyncEngine,
) -> None:
    """Threads are found by `client_key` since 0011: `ix_threads_client` only slowed writes."""
    await upgrade_to(empty_engine, "0014")
    async with empty_engine.begin() as connection:
        assert "ix_threads_client" in await connection.run_sync(thread_indexes)
        await connection.execute(
            text(
                "INSERT INTO threads (id, platform, client, client_key, created_at, "
                "last_message_at) VALUES ('t-1', 'upwork', 'Łukasz', 'łukasz', "
                "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )

    await upgrade_to_head(empty_engine)

    async with empty_engine.connect() as connection:
        indexes = await connection.run_sync(thread_indexes)
        rows = (await connection.execute(text("SELECT id, client, client_key FROM threads"))).all()
        revision = await connection.run_sync(schema_state)
    assert "ix_threads_client" not in indexes
    assert {"ix_threads_client_key", "ix_threads_last_message_at_id"} <= indexes
    assert [tuple(row) for row in rows] == [("t-1", "Łukasz", "łukasz")]
    assert revision["revision"] == head_revision()


@pytest.mark.slow
def test_scopelock_migrate_twice_succeeds_and_stays_at_head(
    empty_database: str, tmp_path: Path
) -> None:
    env = clean_env(DATABASE_URL=empty_database)
    for _ in range(2):
        result = run_once([str(venv_bin("scopelock")), "migrate"], cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "scopelock: database schema is up to date"

    check = run_once(
        [
            sys.executable,
            "-c",
            VERSION_PROBE,
            load_settings(database_url=empty_database).database_url,
        ],
        cwd=tmp_path,
        env=env,
    )
    assert check.returncode == 0, check.stderr
    tables, revision = check.stdout.split()
    assert set(tables.split(",")) == {*SQLModel.metadata.tables, "alembic_version"}
    assert revision == head_revision()


# Read the schema from a separate process, so nothing cached in this one can answer for it.
VERSION_PROBE = """
import asyncio, sys
from sqlalchemy import inspect
from alembic.runtime.migration import MigrationContext
from storage.engine import create_engine

def probe(connection):
    tables = ",".join(sorted(inspect(connection).get_table_names()))
    return tables, MigrationContext.configure(connection).get_current_revision()

async def main():
    engine = create_engine(sys.argv[1])
    async with engine.connect() as connection:
        print(*await connection.run_sync(probe))
    await engine.dispose()

asyncio.run(main())
"""


async def test_models_and_migration_agree(empty_engine: AsyncEngine) -> None:
    """Autogenerate finds nothing to do: models.py and 0001 describe the same schema."""
    await upgrade_to_head(empty_engine)

    def differences(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                "compare_server_default": True,
                "include_object": _compared,
            },
        )
        return compare_metadata(context, SQLModel.metadata)

    async with empty_engine.connect() as connection:
        diff = await connection.run_sync(differences)
    assert diff == []


def _compared(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    return not (type_ == "index" and reflected and name in MIGRATION_ONLY_INDEXES)


async def test_the_database_refuses_to_change_or_remove_events(
    engine: AsyncEngine, backend: str
) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO events (event, timestamp, payload) VALUES "
                "('draft.created@1.0', CURRENT_TIMESTAMP, '{\"n\": 1}'), "
                "('draft.created@1.0', CURRENT_TIMESTAMP, '{\"n\": 2}')"
            )
        )
    before = await _events(engine)

    statements = [
        "UPDATE events SET event = 'draft.forged@1.0'",
        "UPDATE events SET payload = '{}' WHERE id = (SELECT MIN(id) FROM events)",
        "DELETE FROM events",
        "DELETE FROM events WHERE id = (SELECT MAX(id) FROM events)",
    ]
    if backend == "postgresql":
        statements.append("TRUNCATE events")
    for statement in statements:
        with pytest.raises(DBAPIError, match="append-only"):
            async with engine.begin() as connection:
                await connection.execute(text(statement))

    assert await _events(engine) == before
    assert len(before) == 2


async def _events(engine: AsyncEngine) -> list[tuple[Any, ...]]:
    async with engine.connect() as connection:
        result = await connection.execute(
            text("SELECT id, event, timestamp, payload FROM events ORDER BY id")
        )
        return [tuple(row) for row in result]


async def test_two_processes_starting_at_once_both_migrate(empty_database: str) -> None:
    """Two services started together on an empty database take turns; neither fails."""
    url = load_settings(database_url=empty_database).database_url
    engines = [create_engine(url), create_engine(url)]
    try:
        await asyncio.gather(*(upgrade_to_head(engine) for engine in engines))
        async with engines[0].connect() as connection:
            state = await connection.run_sync(schema_state)
    finally:
        for engine in engines:
            await engine.dispose()
    assert state == {
        "tables": {*SQLModel.metadata.tables, "alembic_version"},
        "revision": head_revision(),
    }
