"""storage/repo/events.py: a name prefix is matched literally, LIKE's wildcards included.

The API refuses `%` and `\\` in a filter before it reaches the repository; the repository must
still never read them (or `_`) as wildcards, on either backend.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.repo import events

NAMES = [
    "draft.created@1.0",
    "draftxcreated@1.0",
    "a_b@1.0",
    "axb@1.0",
    "p%q@1.0",
    "pzzq@1.0",
    "b\\c@1.0",
    "b\\\\c@1.0",
]


async def matching(db: async_sessionmaker[AsyncSession], name: str) -> set[str]:
    async with db() as session:
        rows = await events.list_page(
            session=session, where=events.EventFilter(name=name), limit=100
        )
    return {row.event for row in rows}


async def test_prefix_wildcards_are_literal(db: async_sessionmaker[AsyncSession]) -> None:
    async with db() as session, session.begin():
        for name in NAMES:
            await events.append(session=session, event=name, payload={})

    assert await matching(db, "draft.*") == {"draft.created@1.0"}
    assert await matching(db, "a_*") == {"a_b@1.0"}
    assert await matching(db, "p%*") == {"p%q@1.0"}
    assert await matching(db, "%*") == set()
    assert await matching(db, "_*") == set()
    assert await matching(db, "b\\c*") == {"b\\c@1.0"}
    assert await matching(db, "*") == set(NAMES)
    # Without the star the name is exact, wildcards or not.
    assert await matching(db, "a_b@1.0") == {"a_b@1.0"}
    assert await matching(db, "a_b@1.%") == set()
