"""`POST /api/notes` and `GET /api/notes`: the citizens' shared notes (CONTRACT §8)."""

from __future__ import annotations

from aiohttp.test_utils import TestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import Note
from tests.paging import UTC_TIMESTAMP, assert_error, walk_pages

DB = async_sessionmaker[AsyncSession]


async def note_count(db: DB) -> int:
    async with db() as session:
        return await session.scalar(select(func.count()).select_from(Note)) or 0


async def test_a_note_is_stored_and_answered_with_its_author_and_date(
    api: TestClient, db: DB
) -> None:
    response = await api.post(
        "/api/notes", json={"text": "Acme wants a fixed price.", "citizen": "emma"}
    )

    assert response.status == 201
    note = await response.json()
    assert set(note) == {"id", "citizen", "text", "created_at"}
    assert (note["citizen"], note["text"]) == ("emma", "Acme wants a fixed price.")
    assert UTC_TIMESTAMP.match(note["created_at"])
    async with db() as session:
        stored = await session.get(Note, note["id"])
    assert stored is not None and stored.text == "Acme wants a fixed price."


async def test_without_a_citizen_the_operator_wrote_it(api: TestClient) -> None:
    response = await api.post("/api/notes", json={"text": "Hello"})

    assert response.status == 201
    assert (await response.json())["citizen"] == "operator"


async def test_notes_are_listed_newest_first_across_pages(api: TestClient) -> None:
    for index in range(5):
        response = await api.post(
            "/api/notes", json={"text": f"note {index}", "citizen": "rafael"}
        )
        assert response.status == 201

    pages = await walk_pages(api, "/api/notes", "notes", limit=2)

    assert [len(page) for page in pages] == [2, 2, 1]
    assert [n["text"] for page in pages for n in page] == [f"note {i}" for i in range(4, -1, -1)]


async def test_bad_notes_are_refused_and_store_nothing(api: TestClient, db: DB) -> None:
    for body, field in (
        ({"text": ""}, "text"),
        ({"text": "   "}, "text"),
        ({"text": "x" * 2001}, "text"),
        ({"text": "ok", "citizen": "Not A Name"}, "citizen"),
        ({"text": "ok", "extra": 1}, "extra"),
        ({}, "text"),
    ):
        response = await api.post("/api/notes", json=body)
        await assert_error(response, 422, "validation_error", field=field)
    assert await note_count(db) == 0


async def test_a_bad_listing_query_is_a_400(api: TestClient) -> None:
    await assert_error(await api.get("/api/notes?limit=0"), 400, "invalid_query", field="limit")
    await assert_error(await api.get("/api/notes?cursor=nope"), 400, "invalid_cursor")
