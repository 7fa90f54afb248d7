"""The one async engine of the process, and the session factory built on it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

# A request must get an answer within seconds even while PostgreSQL is unreachable.
PG_CONNECT_TIMEOUT_S = 3
PG_COMMAND_TIMEOUT_S = 10
POOL_TIMEOUT_S = 5
# Connections to PostgreSQL, all kept open: an overflow connection would be opened and
# closed again under every burst (a new server process each time). bench/ gives its
# raw-asyncpg ceiling the same number.
POOL_SIZE = 10


def create_engine(url: str, *, pool_size: int = POOL_SIZE) -> AsyncEngine:
    """Create the engine; SQLite gets WAL, foreign keys and one writer at a time.

    Its errors and logs never show statement parameters (`hide_parameters`).
    """
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_async_engine(url, hide_parameters=True, connect_args={"timeout": 30})
        _tune_sqlite(engine)
        return engine
    engine = create_async_engine(
        url,
        # Statement parameters are client text: an error (or echo) must not log them.
        hide_parameters=True,
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=POOL_TIMEOUT_S,
        connect_args={"timeout": PG_CONNECT_TIMEOUT_S, "command_timeout": PG_COMMAND_TIMEOUT_S},
    )
    _skip_closed_connections(engine)
    return engine


def _skip_closed_connections(engine: AsyncEngine) -> None:
    """Never hand out a pooled connection the server has already closed (a restart).

    asyncpg sees the server hang up even while the connection sits idle in the pool, so
    asking it is free; `pool_pre_ping` would cost three round trips on every checkout.
    """

    @event.listens_for(engine.sync_engine, "checkout")
    def on_checkout(_dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if record.driver_connection.is_closed():
            # The pool discards this connection and checks out (or opens) another.
            raise exc.DisconnectionError("the server closed this connection")


def _tune_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (see on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(connection: Any) -> None:
        # IMMEDIATE takes the write lock up front, so two transactions never deadlock
        # upgrading read locks; SQLite then queues writers on busy_timeout.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


def error_chain(error: BaseException) -> Iterator[BaseException]:
    """`error`, then each error it wraps: its cause, or the driver error a SQLAlchemy error
    holds (`orig`); each once."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or getattr(current, "orig", None)
