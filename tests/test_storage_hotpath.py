"""Hot-path statements: the same results on SQLite and PostgreSQL, each its own transaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage.hotpath import HotPath
from storage.models import Event
from storage.repo import events
from storage.repo.events import EventFilter


async def test_a_logged_event_is_committed_and_reads_back_alike(
    engine: AsyncEngine, db: async_sessionmaker[AsyncSession]
) -> None:
    hot = HotPath(engine)
    payload = {"text": "naïve ☃", "nested": {"list": [1, 2.5, None, True]}}

    logged = await events.log(hot=hot, event="bench.logged@1.0", payload=payload)

    async with db() as session:  # another connection sees it: nothing is left to commit
        stored = await session.get(Event, logged.id)
    assert stored is not None
    assert stored.payload == payload
    assert stored.timestamp == logged.timestamp
    [row] = await events.page(hot=hot, where=EventFilter(), limit=10)
    assert row == logged
    assert row.timestamp.tzinfo is not None and row.timestamp.utcoffset() == timedelta(0)


async def test_pages_agree_with_the_session_listing(
    engine: AsyncEngine, db: async_sessionmaker[AsyncSession]
) -> None:
    hot = HotPath(engine)
    async with db() as session, session.begin():
        for n in range(12):
            name = "draft.created@1.0" if n % 3 else "lead_50%.sent@1.0"
            await events.append(session=session, event=name, payload={"n": n})
    middle = datetime.now(UTC) - timedelta(days=1)
    filters = [
        EventFilter(),
        EventFilter(name="draft.created@1.0"),
        EventFilter(name="lead_50%*"),
        EventFilter(name="lead_5*"),  # `_` and `%` are literal in a prefix
        EventFilter(since=middle),
        EventFilter(until=middle),
    ]
    for where in filters:
        for before_id in (None, 9):
            async with db() as session:
                expected = await events.list_page(
                    session=session, where=where, limit=5, before_id=before_id
                )
            got = await events.page(hot=hot, where=where, limit=5, before_id=before_id)
            assert got == expected, (where, before_id)
    async with db() as session:
        assert await session.scalar(select(func.count()).select_from(Event)) == 12
    assert [e.payload["n"] for e in await events.page(hot=hot, where=filters[3], limit=9)] == [
        9,
        6,
        3,
        0,
    ]
