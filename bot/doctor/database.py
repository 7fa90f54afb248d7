"""The database check: reachable, and its schema at the newest migration. Reads only."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy.engine import make_url

from bot.doctor.checks import Check
from bot.settings import Settings
from storage.engine import create_engine
from storage.migrate import schema_revisions

TIMEOUT_S = 10


async def check_database(settings: Settings) -> tuple[Check, bool]:
    """The check, and whether the database holds a schema to read from."""
    url = make_url(settings.database_url)
    where = url.render_as_string(hide_password=True)
    path = _missing_sqlite_file(settings.database_url)
    if path is not None:
        # Connecting would create the file: the doctor changes nothing.
        return (
            Check(
                "database",
                "warn",
                f"no database file at {path} yet: `scopelock` creates it at start "
                "(run the doctor from the service's working directory)",
            ),
            False,
        )
    engine = create_engine(settings.database_url)
    try:
        async with asyncio.timeout(TIMEOUT_S):
            current, head = await schema_revisions(engine)
    except Exception as error:
        reason = str(getattr(error, "orig", None) or error).splitlines()[0] or type(error).__name__
        return (
            Check(
                "database",
                "FAIL",
                f"cannot reach {where} ({reason}): check DATABASE_URL and that the database "
                "is running",
            ),
            False,
        )
    finally:
        await engine.dispose()
    backend = url.get_backend_name()
    if current == head:
        return Check("database", "ok", f"{backend} reachable, schema at {head} (current)"), True
    if current is None:
        return (
            Check(
                "database",
                "warn",
                f"{backend} reachable but empty: the service creates the schema at start "
                "(or run `scopelock migrate`)",
            ),
            False,
        )
    return (
        Check(
            "database",
            "warn",
            f"{backend} schema at {current}, this version's is {head}: the service migrates at "
            "start (or run `scopelock migrate`)",
        ),
        True,
    )


def _missing_sqlite_file(database_url: str) -> Path | None:
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    path = Path(url.database or "")
    return None if path.exists() else path
