"""Single statements on the hot paths of the API, run on the database driver itself.

On PostgreSQL a statement is compiled by SQLAlchemy once, at import, and then runs as a
prepared asyncpg statement on a pooled connection, as a transaction of its own. SQLAlchemy's
work per execution (session, greenlet hand-offs, execution context, result wrapping) costs
more than such a statement costs the server; bench/ measures the difference. On SQLite the
same Core statement runs through SQLAlchemy, in a transaction of its own.

Only a statement that stands alone belongs here: writes that must commit together with
others go through a session.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import JSON
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.expression import Executable

_ASYNCPG = asyncpg_dialect()

Row = Sequence[Any]
"""A result row: values in the order of the statement's columns."""


class HotStatement:
    """A Core statement whose values are all named bind parameters, and its PostgreSQL SQL."""

    def __init__(self, statement: Executable) -> None:
        compiled = statement.compile(dialect=_ASYNCPG)
        self.core = statement
        self.postgres_sql = str(compiled)
        self._names = tuple(compiled.positiontup or ())
        # SQLAlchemy's asyncpg codec for JSON columns takes the document as text.
        self._json = frozenset(
            name for name in self._names if isinstance(compiled.binds[name].type, JSON)
        )

    def postgres_args(self, params: Mapping[str, Any]) -> list[Any]:
        return [json.dumps(params[n]) if n in self._json else params[n] for n in self._names]


class HotPath:
    """Runs `HotStatement`s on the process's engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._on_asyncpg = engine.dialect.driver == "asyncpg"

    async def fetch(self, statement: HotStatement, params: Mapping[str, Any]) -> Sequence[Row]:
        if self._on_asyncpg:
            async with self._engine.connect() as connection:
                driver = (await connection.get_raw_connection()).driver_connection
                assert driver is not None
                return await driver.fetch(statement.postgres_sql, *statement.postgres_args(params))
        async with self._engine.begin() as connection:
            return (await connection.execute(statement.core, params)).all()

    async def fetchrow(self, statement: HotStatement, params: Mapping[str, Any]) -> Row | None:
        rows = await self.fetch(statement, params)
        return rows[0] if rows else None

    async def fetchval(self, statement: HotStatement, params: Mapping[str, Any]) -> Any:
        row = await self.fetchrow(statement, params)
        return None if row is None else row[0]
