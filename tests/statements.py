"""What SQL reaches the database, on either: SQLAlchemy's cursor events on SQLite, and on
PostgreSQL asyncpg's query logger (the hot paths run on the driver, under SQLAlchemy)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "PRAGMA", "SELECT 1")


@contextmanager
def sent(engine: AsyncEngine) -> Iterator[list[str]]:
    """The statements sent while the block runs, transaction control left out."""
    seen: list[str] = []

    def keep(sql: str) -> None:
        if not sql.strip().upper().startswith(_CONTROL):
            seen.append(sql)

    def on_cursor(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        keep(sql)

    def on_query(record: Any) -> None:
        keep(record.query)

    def on_checkout(_dbapi: Any, record: Any, _proxy: Any) -> None:
        record.driver_connection.add_query_logger(on_query)

    sync = engine.sync_engine
    on_postgres = engine.dialect.driver == "asyncpg"
    if on_postgres:
        event.listen(sync.pool, "checkout", on_checkout)
    else:
        event.listen(sync, "before_cursor_execute", on_cursor)
    try:
        yield seen
    finally:
        if on_postgres:
            event.remove(sync.pool, "checkout", on_checkout)
        else:
            event.remove(sync, "before_cursor_execute", on_cursor)
