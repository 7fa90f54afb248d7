"""Wake-ups between processes: PostgreSQL's NOTIFY, sent when work is queued or freed, so a
waiting process looks at once instead of at its next poll. SQLite has none (one machine
polls). A lost notification costs only a poll interval: the rows are the truth.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from storage.hotpath import Fetch, HotStatement

log = logging.getLogger(__name__)

SESSIONS = "scopelock_sessions"

_NOTIFY = HotStatement(select(func.pg_notify(bindparam("channel"), "")))


async def notify(*, session: AsyncSession, channel: str) -> None:
    """Announce on `channel` when the caller's transaction commits (PostgreSQL only)."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(_NOTIFY.core, {"channel": channel})


async def notify_with(fetch: Fetch, on_postgres: bool, channel: str) -> None:
    """`notify`, as a statement of a `HotPath.transaction()`."""
    if on_postgres:
        await fetch(_NOTIFY, {"channel": channel})


@contextlib.asynccontextmanager
async def listening(
    engine: AsyncEngine, channel: str, wake: Callable[[], None]
) -> AsyncIterator[None]:
    """Call `wake()` on every notification of `channel` while inside (PostgreSQL only).

    Holds one connection of the engine for the purpose."""
    if engine.dialect.name != "postgresql":
        yield
        return

    def on_notification(*_args: Any) -> None:
        wake()

    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        await driver.add_listener(channel, on_notification)
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                await driver.remove_listener(channel, on_notification)
