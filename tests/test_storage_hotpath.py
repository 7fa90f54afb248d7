"""Hot-path statements and writes: the same results on SQLite and PostgreSQL, each its own
transaction."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import bindparam, delete, func, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlmodel import col

from storage.engine import create_engine
from storage.hotpath import HotPath, HotStatement, HotWrite
from storage.models import Draft, Event, IdempotencyKey, OutboxMessage
from storage.repo import draft_intake, drafts, events
from storage.repo.draft_intake import Card
from storage.repo.events import EventFilter
from tests.factories import failing_inserts


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
    assert (row.id, row.event, row.timestamp) == (logged.id, logged.event, logged.timestamp)
    assert json.loads(row.payload_json) == payload  # the stored text, passed through
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
            decoded = [(*row[:3], json.loads(row.payload_json)) for row in got]
            assert decoded == [tuple(row) for row in expected], (where, before_id)
    async with db() as session:
        assert await session.scalar(select(func.count()).select_from(Event)) == 12
    page = await events.page(hot=hot, where=filters[3], limit=9)
    assert [json.loads(e.payload_json)["n"] for e in page] == [
        9,
        6,
        3,
        0,
    ]


def _new_draft() -> Draft:
    return drafts.new(
        client="Acme",
        job_title="Bot",
        message="Hi",
        draft_text="Hello ☃",
        confidence=80,
        context={"link": "https://example.com"},
    )


async def test_a_draft_its_event_and_its_card_are_written_together(
    engine: AsyncEngine, db: async_sessionmaker[AsyncSession]
) -> None:
    draft = _new_draft()
    card = Card(chat_id=42, text="<b>card</b>", reply_markup={"inline_keyboard": []})

    outbox_id = await draft_intake.store(hot=HotPath(engine), draft=draft, card=card)

    async with db() as session:
        stored = await session.get(Draft, draft.id)
        [event] = (await session.scalars(select(Event))).all()
        queued = await session.get(OutboxMessage, outbox_id)
    assert stored is not None and stored.model_dump() == draft.model_dump()
    assert (event.event, event.timestamp, event.payload) == (
        "draft.created@1.0",
        draft.created_at,
        {
            "draft_id": draft.id,
            "client": "Acme",
            "job_title": "Bot",
            "citizen": "rafael",
            "confidence": 80,
        },
    )
    assert queued is not None
    assert (queued.chat_id, queued.text, queued.reply_markup, queued.draft_id) == (
        42,
        "<b>card</b>",
        {"inline_keyboard": []},
        draft.id,
    )
    assert (queued.status, queued.attempts, queued.next_attempt_at) == (
        "pending",
        0,
        draft.created_at,
    )


async def test_a_failing_write_leaves_nothing_behind(
    engine: AsyncEngine, db: async_sessionmaker[AsyncSession], backend: str
) -> None:
    """The draft and its event are written before its card: when the card's insert fails,
    the two before it must be undone (one statement on PostgreSQL, a transaction on SQLite)."""
    hot = HotPath(engine)
    async with engine.begin() as connection:
        for statement in failing_inserts(backend, "outbox"):
            await connection.execute(text(statement))
    draft = _new_draft()
    with pytest.raises(IntegrityError):
        await draft_intake.store(hot=hot, draft=draft, card=Card(chat_id=1, text="x"))
    async with db() as session:
        assert await session.scalar(select(func.count()).select_from(Draft)) == 0
        assert await session.scalar(select(func.count()).select_from(Event)) == 0
        assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
    # Without a card the same draft goes in whole: nothing of the failed write was left.
    assert await draft_intake.store(hot=hot, draft=draft, card=None) is None
    async with db() as session:
        assert await session.scalar(select(func.count()).select_from(Event)) == 1


async def test_each_write_takes_only_its_own_parameters(
    engine: AsyncEngine, db: async_sessionmaker[AsyncSession]
) -> None:
    """The writes share one namespace of parameters: the first's `id`, a column of the
    second's table too, must not be written by the second (on PostgreSQL only a statement's
    own parameters reach the driver; run in turn through SQLAlchemy, the same must hold)."""
    events_table = Event.__table__
    write = HotWrite(
        delete(IdempotencyKey).where(col(IdempotencyKey.key) == bindparam("id")),
        insert(events_table)
        .values(event=bindparam("name"), timestamp=bindparam("now"), payload=bindparam("payload"))
        .returning(events_table.c.id),
    )
    hot = HotPath(engine)
    logged = await events.log(hot=hot, event="a.logged@1.0", payload={})
    key = str(logged.id)  # an idempotency key; as the events id it would clash
    params = {"name": "a.new@1.0", "now": datetime.now(UTC), "payload": {}, "id": key}

    async with engine.begin() as connection:
        [(first,)] = await write.run_in(connection, params)
    [(second,)] = await hot.write(write, params)

    assert logged.id < first < second
    async with db() as session:
        assert list(await session.scalars(select(Event.event).order_by(Event.id))) == [
            "a.logged@1.0",
            "a.new@1.0",
            "a.new@1.0",
        ]


async def test_every_connection_goes_back_to_the_pool_even_from_a_cancelled_request(
    engine: AsyncEngine,
) -> None:
    hot = HotPath(engine)
    sleep = HotStatement(select(func.pg_sleep(5)) if hot.on_asyncpg else select(text("1")))
    slow = [asyncio.create_task(hot.fetch(sleep, {})) for _ in range(3)]
    await asyncio.sleep(0.3)  # each holds a connection, waiting for the server
    for task in slow:
        task.cancel()
    await asyncio.gather(*slow, return_exceptions=True)
    async with hot.transaction() as fetch:
        await fetch(HotStatement(select(text("1"))), {})
    duplicate = HotStatement(
        insert(Event).values(id=1, event="a@1", timestamp=datetime.now(UTC), payload={})
    )
    with pytest.raises(IntegrityError):
        async with hot.transaction() as fetch:
            await fetch(duplicate, {})
            await fetch(duplicate, {})

    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    async with hot.snapshot() as fetch:  # and they still work
        assert [tuple(r) for r in await fetch(HotStatement(select(text("2"))), {})] == [(2,)]


@pytest.mark.parametrize("backend", ["postgresql"])  # SQLite's run through SQLAlchemy's handling
async def test_a_connection_left_mid_statement_is_replaced_and_one_the_server_answered_is_kept(
    engine: AsyncEngine,
) -> None:
    one_connection = HotPath(create_engine(_url(engine), pool_size=1))
    backend = HotStatement(select(func.pg_backend_pid()))
    first = await one_connection.fetchval(backend, {})

    duplicate = HotStatement(
        insert(Event).values(id=7, event="a@1", timestamp=datetime.now(UTC), payload={})
    )
    await one_connection.fetch(duplicate, {})
    with pytest.raises(IntegrityError):  # the server answered: the connection is fine
        await one_connection.fetch(duplicate, {})
    assert await one_connection.fetchval(backend, {}) == first

    sleeping = asyncio.create_task(
        one_connection.fetch(HotStatement(select(func.pg_sleep(5))), {})
    )
    await asyncio.sleep(0.3)
    sleeping.cancel()  # no answer: the statement may still be running on that connection
    await asyncio.gather(sleeping, return_exceptions=True)
    assert await one_connection.fetchval(backend, {}) != first
    await one_connection.engine.dispose()


def _url(engine: AsyncEngine) -> str:
    return engine.url.render_as_string(hide_password=False)
