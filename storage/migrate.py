"""Bring the schema up to date with Alembic; the migrations ship inside this package."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Any constant will do, as long as nothing else in the database takes the same advisory lock.
MIGRATION_LOCK_KEY = 0x5C0_9E10C


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Percent signs in a password would otherwise be read as interpolation.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


async def upgrade_to_head(engine: AsyncEngine) -> None:
    """Apply every pending migration on one connection of the given engine.

    Processes started together take turns: PostgreSQL through an advisory lock held until the
    transaction ends, SQLite through the write lock its BEGIN IMMEDIATE takes. The later one
    then finds the schema at head.
    """
    await upgrade_to(engine, "head")


async def upgrade_to(engine: AsyncEngine, revision: str) -> None:
    """`upgrade_to_head`, stopping at `revision` (tests start from an older schema)."""
    url = engine.url.render_as_string(hide_password=False)
    async with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            await _sqlite_foreign_keys(connection, enabled=False)
        try:
            async with connection.begin():
                if not sqlite:
                    await connection.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
                    )
                await connection.run_sync(_upgrade, url, revision)
        finally:
            if sqlite:
                await _sqlite_foreign_keys(connection, enabled=True)


async def _sqlite_foreign_keys(connection: AsyncConnection, *, enabled: bool) -> None:
    """Switch SQLite's foreign keys for this connection, outside any transaction.

    A batch migration rebuilds a table (copy, drop, rename); with foreign keys on, dropping a
    table that others reference would fail, and the pragma is ignored inside a transaction:
    SQLite's documented procedure for such changes turns them off around it.
    """
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    await driver.execute(f"PRAGMA foreign_keys={'ON' if enabled else 'OFF'}")


def _upgrade(connection: object, url: str, revision: str) -> None:
    config = alembic_config(url)
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def schema_revisions(engine: AsyncEngine) -> tuple[str | None, str | None]:
    """(the database's revision, the newest migration's), reading only."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    async with engine.connect() as connection:
        current = await connection.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )
    return current, head
