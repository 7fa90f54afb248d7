"""Single statements on the hot paths of the API, run on the database driver itself.

On PostgreSQL a statement is compiled by SQLAlchemy once, at import, and then runs as a
prepared asyncpg statement on a pooled connection, as a transaction of its own. SQLAlchemy's
work per execution (session, greenlet hand-offs, execution context, result wrapping) costs
more than such a statement costs the server; bench/ measures the difference. On SQLite the
same Core statement runs through SQLAlchemy, in a transaction of its own.

Writes that must commit together are a `HotWrite`: on PostgreSQL one statement (each write but
the last a data-modifying CTE), so one round trip and no BEGIN/COMMIT; on SQLite, or inside a
caller's transaction, the same statements in turn.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, cast

import asyncpg
from sqlalchemy import JSON, CursorResult
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.selectable import Select
from sqlalchemy.util import greenlet_spawn

from storage.engine import error_chain

_ASYNCPG = asyncpg_dialect()

Row = Sequence[Any]
"""A result row: values in the order of the statement's columns."""
Fetch = Callable[["HotStatement", Mapping[str, Any]], Awaitable[Sequence[Row]]]


class HotStatement:
    """A Core statement and its PostgreSQL SQL; its variable values are named bind parameters
    (constants written into the statement are bound with the values they were given)."""

    def __init__(self, statement: Select[Any] | UpdateBase) -> None:
        compiled = statement.compile(dialect=_ASYNCPG)
        self.core = statement
        self.postgres_sql = str(compiled)
        self._names = tuple(compiled.positiontup or ())
        self._bind_names = frozenset(compiled.binds)
        self._constants = {
            name: bind.value for name, bind in compiled.binds.items() if not bind.required
        }
        # SQLAlchemy's asyncpg codec for JSON columns takes the document as text.
        self._json = frozenset(
            name for name in self._names if isinstance(compiled.binds[name].type, JSON)
        )

    @property
    def column_names(self) -> tuple[str, ...]:
        """The names of the columns its rows hold, in order."""
        return tuple(self.core.selected_columns.keys() if isinstance(self.core, Select) else ())

    def own(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Only the statement's own parameters: given to an INSERT or UPDATE through
        SQLAlchemy, a parameter named as a column would be written too (as on PostgreSQL,
        where only the statement's own reach the driver)."""
        return {name: value for name, value in params.items() if name in self._bind_names}

    def postgres_args(self, params: Mapping[str, Any]) -> list[Any]:
        values = [params[n] if n in params else self._constants[n] for n in self._names]
        return [
            json.dumps(value) if name in self._json else value
            for name, value in zip(self._names, values, strict=True)
        ]


class HotWrite:
    """Writes that commit together; they share one namespace of bind parameters.

    The rows the last statement returns are the write's result. As one PostgreSQL statement
    the writes all see the database as it was before it: none may need another's rows (foreign
    keys are fine; they are checked at the statement's end).
    """

    def __init__(self, *statements: UpdateBase) -> None:
        *earlier, last = statements
        self.statements = tuple(HotStatement(statement) for statement in statements)
        self.combined = HotStatement(
            last.add_cte(*(s.cte(f"write_{n}") for n, s in enumerate(earlier)))
        )

    async def run_in(
        self, connection: AsyncConnection | AsyncSession, params: Mapping[str, Any]
    ) -> Sequence[Row]:
        """Run the writes in turn, in the caller's transaction, each given only its own
        parameters (as on PostgreSQL)."""
        rows: Sequence[Row] = []
        for statement in self.statements:
            result = await connection.execute(statement.core, statement.own(params))
            # A DML statement runs on a cursor, through a session too; its stubs say Result.
            rows = result.all() if cast("CursorResult[Any]", result).returns_rows else []
        return rows


_NO_ANSWER = (
    OSError,
    TimeoutError,
    asyncio.CancelledError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,  # shutdowns, and a statement cancelled
)


def _in_doubt(error: BaseException) -> bool:
    """A statement ended without the server's answer (the server went away, a timeout, a
    cancellation): its connection may still be mid-statement, and handed to the next request
    it failed with "another operation is in progress" (seen under load while PostgreSQL
    restarted). The server's own errors (a constraint, bad data) and the caller's leave it
    ready for the next statement."""
    return any(isinstance(wrapped, _NO_ANSWER) for wrapped in error_chain(error))


class HotPath:
    """Runs `HotStatement`s on the process's engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.on_asyncpg = engine.dialect.driver == "asyncpg"
        """PostgreSQL through asyncpg: statements run on the driver."""

    @asynccontextmanager
    async def _driver(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection of the engine's pool, as the asyncpg connection it holds.

        Not `engine.connect()`: its `Connection` costs two more greenlet hand-offs a checkout
        (about 140 µs against 50 here, a fifth of `POST /api/event/log`; bench/ measures it).
        The pool's checkout listener and its reset on return run as they do there.
        """
        pooled = await self.engine.raw_connection()
        try:
            driver = pooled.driver_connection
            assert driver is not None
            yield driver
        except BaseException as error:
            if _in_doubt(error):
                pooled.invalidate(error if isinstance(error, Exception) else None)
            raise
        finally:
            # Shielded as `AsyncConnection.close` is: a cancelled request returns it too.
            await asyncio.shield(greenlet_spawn(pooled.close))

    async def fetch(self, statement: HotStatement, params: Mapping[str, Any]) -> Sequence[Row]:
        if self.on_asyncpg:
            async with self._driver() as driver:
                args = statement.postgres_args(params)
                try:
                    return await driver.fetch(statement.postgres_sql, *args)
                except asyncpg.IntegrityConstraintViolationError as error:
                    # As SQLAlchemy reports it, so callers see one error on both databases.
                    raise IntegrityError(statement.postgres_sql, None, error) from error
        async with self.engine.begin() as connection:
            return (await connection.execute(statement.core, statement.own(params))).all()

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[Fetch]:
        """Several reads that see one state of the database: a `fetch` for each statement in
        turn, in one read-only transaction (REPEATABLE READ on PostgreSQL; SQLite's
        transaction sees one state anyway)."""
        if self.on_asyncpg:
            async with self._driver() as driver:

                async def on_driver(
                    statement: HotStatement, params: Mapping[str, Any]
                ) -> Sequence[Row]:
                    return cast(
                        "Sequence[Row]",
                        await driver.fetch(
                            statement.postgres_sql, *statement.postgres_args(params)
                        ),
                    )

                async with driver.transaction(isolation="repeatable_read", readonly=True):
                    yield on_driver
            return
        async with self.engine.begin() as connection:

            async def on_core(statement: HotStatement, params: Mapping[str, Any]) -> Sequence[Row]:
                return (await connection.execute(statement.core, statement.own(params))).all()

            yield on_core

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Fetch]:
        """Statements in one transaction of their own, in turn: a `fetch` for each; it commits
        when the block ends, and rolls back if it raises."""
        if self.on_asyncpg:
            async with self._driver() as driver:

                async def on_driver(
                    statement: HotStatement, params: Mapping[str, Any]
                ) -> Sequence[Row]:
                    args = statement.postgres_args(params)
                    try:
                        return cast(
                            "Sequence[Row]", await driver.fetch(statement.postgres_sql, *args)
                        )
                    except asyncpg.IntegrityConstraintViolationError as error:
                        raise IntegrityError(statement.postgres_sql, None, error) from error

                async with driver.transaction():
                    yield on_driver
            return
        async with self.engine.begin() as connection:

            async def on_core(statement: HotStatement, params: Mapping[str, Any]) -> Sequence[Row]:
                result = await connection.execute(statement.core, statement.own(params))
                return result.all() if cast("CursorResult[Any]", result).returns_rows else []

            yield on_core

    async def write(self, write: HotWrite, params: Mapping[str, Any]) -> Sequence[Row]:
        """Run `write` as a transaction of its own."""
        if self.on_asyncpg:
            return await self.fetch(write.combined, params)
        async with self.engine.begin() as connection:
            return await write.run_in(connection, params)

    async def fetchrow(self, statement: HotStatement, params: Mapping[str, Any]) -> Row | None:
        rows = await self.fetch(statement, params)
        return rows[0] if rows else None

    async def fetchval(self, statement: HotStatement, params: Mapping[str, Any]) -> Any:
        row = await self.fetchrow(statement, params)
        return None if row is None else row[0]
