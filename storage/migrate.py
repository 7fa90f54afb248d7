"""Bring the schema up to date with Alembic; the migrations ship inside this package."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

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
    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            await connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
        await connection.run_sync(_upgrade, engine.url.render_as_string(hide_password=False))


def _upgrade(connection: object, url: str) -> None:
    config = alembic_config(url)
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
