"""The listings' queries use an index on PostgreSQL, not a scan of the whole table.

The SQL is captured from the repositories' listing functions (the statements the API's
listings run) and explained with the same parameters, on tables seeded with thousands of rows
and analyzed.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.telegram import cards
from storage.engine import session_factory
from storage.models import Draft
from storage.repo import draft_actions, drafts, events

pytestmark = pytest.mark.parametrize("backend", ["postgresql"])

SEED = [
    """
    INSERT INTO events (event, timestamp, payload)
    SELECT (ARRAY['draft.created@1.0', 'draft.approved@1.0', 'draft.rejected@1.0',
                  'lead.tracked@1.0', 'citizen.session.started@1.0',
                  'citizen.session.completed@1.0', 'upwork.response.received@1.0',
                  'citizen.session.queued@1.0'])[1 + i % 8],
           now() - make_interval(mins => 20000 - i),
           jsonb_build_object('i', i)
    FROM generate_series(1, 20000) AS i
    """,
    """
    INSERT INTO drafts (id, client, client_key, job_title, message, draft_text, confidence,
                        context, citizen, status, created_at, updated_at)
    SELECT md5(i::text)::uuid::text, 'Client ' || i % 50, 'client ' || i % 50, 'job',
           'message', 'draft', 50, '{}'::jsonb,
           'rafael',
           CASE WHEN i % 100 = 0 THEN 'pending' WHEN i % 2 = 0 THEN 'approved'
                ELSE 'rejected' END,
           now() - make_interval(mins => i), now()
    FROM generate_series(1, 5000) AS i
    """,
    "ANALYZE events",
    "ANALYZE drafts",
]


@pytest.fixture
async def seeded(engine: AsyncEngine) -> AsyncEngine:
    async with engine.begin() as connection:
        for statement in SEED:
            await connection.execute(text(statement))
    return engine


@contextmanager
def capturing() -> Iterator[list[tuple[str, Any]]]:
    """Every statement sent inside the block, with its parameters.

    Listening on the Engine class also catches engines derived with `execution_options`
    (an autocommit variant, say), which share the pool but not the listeners.
    """
    statements: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        statements.append((statement, parameters))

    event.listen(Engine, "before_cursor_execute", capture)
    try:
        yield statements
    finally:
        event.remove(Engine, "before_cursor_execute", capture)


async def explain(engine: AsyncEngine, statement: str, parameters: Any) -> dict[str, Any]:
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        document = await driver.fetchval(f"EXPLAIN (FORMAT JSON) {statement}", *parameters)
    # The engine's connections decode JSON themselves; a bare driver would hand back text.
    if isinstance(document, str):
        document = json.loads(document)
    return document[0]["Plan"]


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


async def plan_of(
    engine: AsyncEngine, listing: Callable[[AsyncSession], Awaitable[Sequence[Any]]]
) -> dict[str, Any]:
    """The plan of the one SELECT that `listing` runs (it must find something)."""
    with capturing() as statements:
        async with session_factory(engine)() as session:
            rows = await listing(session)
    assert rows
    [(statement, parameters)] = [
        (sql, args) for sql, args in statements if sql.lstrip().upper().startswith("SELECT")
    ]
    return await explain(engine, statement, parameters)


# A plan may sort what it fetched only if that is a handful of rows, never a table's worth.
MAX_ROWS_SORTED = 500


def assert_uses_an_index(
    plan: dict[str, Any], table: str, *, ordered: bool, cursor_on: str | None = None
) -> None:
    """No full scan of `table`; with `ordered`, no sort of more than a few hundred rows.

    With `cursor_on`, the keyset condition on that column bounds the index scan itself, so a
    deep page starts at the cursor instead of filtering every newer row out one by one.
    """
    on_table = [node["Node Type"] for node in nodes(plan) if node.get("Relation Name") == table]
    assert on_table, plan
    assert set(on_table) <= {"Index Scan", "Index Only Scan", "Bitmap Heap Scan"}, plan
    if ordered:
        for node in nodes(plan):
            if node["Node Type"] in ("Sort", "Incremental Sort"):
                sorted_rows = node["Plans"][0]["Plan Rows"]
                assert sorted_rows <= MAX_ROWS_SORTED, json.dumps(plan, indent=1)
    if cursor_on is not None:
        conditions = [node.get("Index Cond", "") for node in nodes(plan)]
        assert any(cursor_on in condition for condition in conditions), json.dumps(plan, indent=1)


async def test_event_listings_use_an_index(seeded: AsyncEngine) -> None:
    async with seeded.connect() as connection:
        cursor = await connection.scalar(
            text("SELECT id FROM events ORDER BY id DESC OFFSET 100 LIMIT 1")
        )
    since = datetime.now(UTC) - timedelta(hours=6)
    # (filter, cursor, whether the index must also give the order): a narrow time window may
    # be fetched through two indexes and sorted, which is cheap because the window is small.
    listings: list[tuple[events.EventFilter, int | None, bool]] = [
        (events.EventFilter(), None, True),
        (events.EventFilter(), cursor, True),
        (events.EventFilter(name="draft.approved@1.0"), None, True),
        (events.EventFilter(name="draft.*"), None, True),
        (events.EventFilter(name="citizen.session.*"), None, True),
        (events.EventFilter(name="draft.*"), cursor, True),
        (events.EventFilter(since=since), None, False),
        (events.EventFilter(since=since, name="lead.tracked@1.0"), None, False),
        (events.EventFilter(until=since, name="draft.*"), cursor, False),
    ]
    for where, before_id, ordered in listings:

        async def listing(
            session: AsyncSession, where: Any = where, before_id: Any = before_id
        ) -> Sequence[Any]:
            return await events.list_page(
                session=session, where=where, limit=101, before_id=before_id
            )

        plan = await plan_of(seeded, listing)
        cursor_on = "id <" if before_id is not None else None
        assert_uses_an_index(plan, "events", ordered=ordered, cursor_on=cursor_on)


async def test_draft_listings_use_an_index_that_gives_their_order(seeded: AsyncEngine) -> None:
    async def tenth(status: str | None) -> tuple[datetime, str]:
        async with session_factory(seeded)() as session:
            page = await drafts.list_page(session=session, status=status, limit=10)
        return page[-1].created_at, page[-1].id

    for status in ("pending", "approved", None):
        for after in (None, await tenth(status)):

            async def listing(
                session: AsyncSession, status: Any = status, after: Any = after
            ) -> Sequence[Any]:
                return await drafts.list_page(
                    session=session, status=status, limit=51, after=after
                )

            plan = await plan_of(seeded, listing)
            cursor_on = "created_at" if after is not None else None
            assert_uses_an_index(plan, "drafts", ordered=True, cursor_on=cursor_on)


async def test_a_client_filter_uses_the_folded_key_index(seeded: AsyncEngine) -> None:
    async def listing(session: AsyncSession) -> Sequence[Any]:
        return await drafts.list_page(session=session, status=None, limit=51, client="CLIENT 7")

    plan = await plan_of(seeded, listing)
    assert_uses_an_index(plan, "drafts", ordered=True)
    assert any("client_key" in node.get("Index Cond", "") for node in nodes(plan)), plan


async def test_a_card_finds_who_decided_without_searching_the_event_log(
    seeded: AsyncEngine,
) -> None:
    """The card of a decided draft names the operator who decided: the card refresh reads
    it with the draft, and none of its statements scans the 20,000 events backwards."""
    db = session_factory(seeded)
    async with db() as session:
        draft_id = await session.scalar(text("SELECT id FROM drafts WHERE status = 'pending'"))
    actor = draft_actions.Actor(42, "Nicolas")
    async with db() as session, session.begin():
        await draft_actions.decide(
            session=session, draft_id=draft_id, status="rejected", actor=actor, deliver=None
        )
    async with seeded.begin() as connection:
        await connection.execute(text("ANALYZE events"))

    with capturing() as statements:
        async with db() as session:
            draft = await session.get(Draft, draft_id)
            assert draft is not None
            facts = await cards.facts_of(session=session, draft=draft)
    assert facts.decided_by_name == "Nicolas"
    for sql, parameters in statements:
        if sql.lstrip().upper().startswith("SELECT"):
            plan = await explain(seeded, sql, parameters)
            assert all(node.get("Relation Name") != "events" for node in nodes(plan)), sql
            assert all(node["Node Type"] != "Seq Scan" for node in nodes(plan)), plan
