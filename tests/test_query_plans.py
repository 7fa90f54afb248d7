"""The listings' queries use an index on PostgreSQL, not a scan of the whole table.

The SQL is captured from real API requests (so it is exactly what the repositories send) and
then explained with the same parameters, on tables seeded with thousands of rows and analyzed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.paging import fetch_page

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
    INSERT INTO drafts (id, client, job_title, message, draft_text, confidence, context,
                        citizen, status, created_at, updated_at)
    SELECT md5(i::text)::uuid::text, 'client', 'job', 'message', 'draft', 50, '{}'::jsonb,
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


@pytest.fixture
def captured(seeded: AsyncEngine) -> Iterator[list[tuple[str, Any]]]:
    """Every statement the engine sends, with its parameters, from now on."""
    statements: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        statements.append((statement, parameters))

    event.listen(seeded.sync_engine, "before_cursor_execute", capture)
    yield statements
    event.remove(seeded.sync_engine, "before_cursor_execute", capture)


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


async def plan_of_listing(
    api: TestClient,
    engine: AsyncEngine,
    captured: list[tuple[str, Any]],
    path: str,
    key: str,
    **params: Any,
) -> dict[str, Any]:
    captured.clear()
    rows, _ = await fetch_page(api, path, key, **params)
    assert rows, (path, params)  # the query under test found something
    [(statement, parameters)] = [
        (sql, args) for sql, args in captured if sql.lstrip().upper().startswith("SELECT")
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


async def test_event_listings_use_an_index(
    api: TestClient, seeded: AsyncEngine, captured: list[tuple[str, Any]]
) -> None:
    _, cursor = await fetch_page(api, "/api/events", "events", limit=100)
    assert cursor is not None
    since = (datetime.now(UTC) - timedelta(hours=6)).strftime("%Y-%m-%dT%H:%M:%SZ")
    # (query, whether the index must also give the order): a narrow time window may be
    # fetched through two indexes and sorted, which is cheap because the window is small.
    listings: list[tuple[dict[str, str], bool]] = [
        ({}, True),
        ({"cursor": cursor}, True),
        ({"event": "draft.approved@1.0"}, True),
        ({"event": "draft.*"}, True),
        ({"event": "citizen.session.*"}, True),
        ({"cursor": cursor, "event": "draft.*"}, True),
        ({"since": since}, False),
        ({"since": since, "event": "lead.tracked@1.0"}, False),
    ]
    for params, ordered in listings:
        plan = await plan_of_listing(api, seeded, captured, "/api/events", "events", **params)
        cursor_on = "id <" if "cursor" in params else None
        assert_uses_an_index(plan, "events", ordered=ordered, cursor_on=cursor_on)


async def test_draft_listings_use_an_index_that_gives_their_order(
    api: TestClient, seeded: AsyncEngine, captured: list[tuple[str, Any]]
) -> None:
    _, pending_cursor = await fetch_page(api, "/api/drafts", "drafts", limit=10, status="pending")
    _, approved_cursor = await fetch_page(api, "/api/drafts", "drafts", status="approved")
    _, cursor = await fetch_page(api, "/api/drafts", "drafts", limit=10)
    assert pending_cursor and approved_cursor and cursor
    for params in [
        {"status": "pending"},
        {"status": "pending", "cursor": pending_cursor},
        {"status": "approved"},
        {"status": "approved", "cursor": approved_cursor},
        {},
        {"cursor": cursor},
    ]:
        plan = await plan_of_listing(api, seeded, captured, "/api/drafts", "drafts", **params)
        cursor_on = "created_at" if "cursor" in params else None
        assert_uses_an_index(plan, "drafts", ordered=True, cursor_on=cursor_on)
