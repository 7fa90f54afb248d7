"""The engine's errors never carry statement parameters: they are client text."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

CLIENT_TEXT = "a client's private words 7e1d"


async def test_a_failed_statement_shows_no_parameter(
    engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    insert = text(
        "INSERT INTO idempotency_keys (key, request_hash, response, created_at) "
        "VALUES (:key, 'h', '{}', CURRENT_TIMESTAMP)"
    )
    async with engine.begin() as connection:
        await connection.execute(insert, {"key": CLIENT_TEXT})
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")
    engine.echo = True  # as with LOG_LEVEL=DEBUG on SQLAlchemy's logger: statements logged

    with pytest.raises(IntegrityError) as raised:
        async with engine.begin() as connection:
            await connection.execute(insert, {"key": CLIENT_TEXT})
    engine.echo = False

    assert "INSERT INTO idempotency_keys" in str(raised.value)
    assert CLIENT_TEXT not in str(raised.value)
    assert "INSERT INTO idempotency_keys" in caplog.text
    assert CLIENT_TEXT not in caplog.text
