"""Session tokens on the API (CONTRACT §3, §7): valid only while their session runs, scoped to
what a citizen needs, and what they post is attributed to their session.

Every test runs with `API_TOKEN` set and with the API open (unset): a session token is scoped
either way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.settings import Settings
from storage.models import Draft, Lead
from storage.repo import citizen_queue, session_tokens
from tests.citizens_support import enqueue_session, make_thread
from tests.conftest import API_TOKEN
from tests.factories import draft_body, lead_body, stored_counts
from tests.paging import assert_error
from web.app import create_app

Db = async_sessionmaker[AsyncSession]


@pytest.fixture(params=["api_token", "open"])
async def client(
    request: pytest.FixtureRequest,
    aiohttp_client: Any,
    make_settings: Callable[..., Settings],
    engine: AsyncEngine,
) -> TestClient:
    """The API with `API_TOKEN` set, or open; requests carry no credentials of their own."""
    token = API_TOKEN if request.param == "api_token" else None
    return await aiohttp_client(create_app(make_settings(api_token=token), engine))  # type: ignore[no-any-return]


async def running_session(
    db: Db, citizen: str = "rafael", *, thread_id: str | None = None, lead_id: int | None = None
) -> tuple[str, dict[str, str]]:
    """A running session and the headers carrying its token."""
    session_id = await enqueue_session(db, citizen, "Work.", thread_id=thread_id, lead_id=lead_id)
    token = session_tokens.new_token()
    async with db() as session, session.begin():
        row = await citizen_queue.claim_next(
            session=session,
            citizen=citizen,
            claimed_by="test:1:x",
            token_hash=session_tokens.token_hash(token),
        )
    assert row is not None and row.id == session_id
    return session_id, {"Authorization": f"Bearer {token}"}


async def end(db: Db, session_id: str, status: str = "completed") -> None:
    async with db() as session, session.begin():
        assert await citizen_queue.finish(session=session, session_id=session_id, status=status)


async def make_lead(db: Db) -> int:
    async with db() as session, session.begin():
        lead = Lead(**lead_body())
        session.add(lead)
        await session.flush()
        assert lead.id is not None
        return lead.id


async def post_draft(client: TestClient, headers: dict[str, str], **fields: Any) -> Any:
    return await client.post("/api/draft/create", json=draft_body(**fields), headers=headers)


async def stored_drafts(db: Db) -> list[Draft]:
    async with db() as session:
        return list((await session.scalars(select(Draft))).all())


async def test_a_session_token_does_what_a_citizen_needs(client: TestClient, db: Db) -> None:
    thread = await make_thread(db)
    _, headers = await running_session(db, thread_id=thread)

    created = await post_draft(client, headers)
    assert created.status == 201, await created.text()
    draft_id = (await created.json())["draft_id"]
    lead = await client.post("/api/leads", json=lead_body(), headers=headers)
    assert lead.status == 201
    lead_id = (await lead.json())["lead_id"]
    event = await client.post(
        "/api/event/log", json={"event": "rafael.replied@1.0", "payload": {}}, headers=headers
    )
    assert event.status == 201
    for path in (
        "/api/leads",
        f"/api/lead/{lead_id}",
        f"/api/thread/{thread}",
        f"/api/drafts?thread_id={thread}",
        f"/api/draft/{draft_id}",
    ):
        response = await client.get(path, headers=headers)
        assert response.status == 200, (path, await response.text())
    # The notes are a session's too: written as its citizen, and read back.
    note = await client.post("/api/notes", json={"text": "Prefers mornings."}, headers=headers)
    assert note.status == 201, await note.text()
    assert (await note.json())["citizen"] == "rafael"
    listed = await client.get("/api/notes", headers=headers)
    assert listed.status == 200, await listed.text()
    assert [n["text"] for n in (await listed.json())["notes"]] == ["Prefers mornings."]


async def test_a_session_token_is_refused_everything_else(client: TestClient, db: Db) -> None:
    own, other = await make_thread(db, "Ada"), await make_thread(db, "Bob")
    other_session, other_headers = await running_session(db, "emma", thread_id=other)
    other_draft = (await (await post_draft(client, other_headers)).json())["draft_id"]
    lead_id = await make_lead(db)
    _, headers = await running_session(db, thread_id=own)
    before = await stored_counts(db)

    for method, path in [
        ("GET", f"/api/thread/{other}"),
        ("GET", "/api/threads"),
        ("GET", f"/api/drafts?thread_id={other}"),
        ("GET", "/api/drafts"),
        ("GET", f"/api/drafts?thread_id={own}&thread_id={other}"),
        ("GET", f"/api/draft/{other_draft}"),
        ("GET", "/api/draft/00000000-0000-0000-0000-000000000000"),
        ("GET", "/api/events"),
        ("GET", "/api/sessions"),
        ("GET", f"/api/session/{other_session}"),
        ("PATCH", f"/api/lead/{lead_id}"),
        ("GET", "/api/openapi.json"),
        ("GET", "/api/nowhere"),
    ]:
        response = await client.request(method, path, json={"sent": True}, headers=headers)
        await assert_error(response, 403, "forbidden")
    assert await stored_counts(db) == before


async def test_a_session_without_a_thread_reads_no_thread(client: TestClient, db: Db) -> None:
    thread = await make_thread(db)
    _, headers = await running_session(db)
    for path in (f"/api/thread/{thread}", f"/api/drafts?thread_id={thread}", "/api/drafts"):
        await assert_error(await client.get(path, headers=headers), 403, "forbidden")


@pytest.mark.parametrize("status", ["completed", "failed"])
async def test_a_session_token_stops_working_when_its_session_ends(
    client: TestClient, db: Db, status: str
) -> None:
    thread = await make_thread(db)
    session_id, headers = await running_session(db, thread_id=thread)
    await end(db, session_id, status)

    for method, path in [
        ("POST", "/api/draft/create"),
        ("GET", "/api/leads"),
        ("GET", f"/api/thread/{thread}"),
        ("GET", "/api/events"),
    ]:
        response = await client.request(method, path, json=draft_body(), headers=headers)
        await assert_error(response, 401, "unauthorized")
    assert await stored_drafts(db) == []


async def test_an_unknown_session_token_is_401(client: TestClient) -> None:
    headers = {"Authorization": f"Bearer {session_tokens.new_token()}"}
    await assert_error(await client.get("/api/leads", headers=headers), 401, "unauthorized")


async def test_drafts_take_citizen_session_thread_and_lead_from_the_session(
    client: TestClient, db: Db
) -> None:
    thread = await make_thread(db)
    lead_id, other_lead = await make_lead(db), await make_lead(db)
    session_id, headers = await running_session(db, "emma", thread_id=thread, lead_id=lead_id)

    plain = await post_draft(client, headers)  # names no citizen, thread or lead
    named = await post_draft(client, headers, citizen="emma", thread_id=thread, lead_id=other_lead)
    assert (plain.status, named.status) == (201, 201)

    drafts = {d.id: d for d in await stored_drafts(db)}
    first = drafts[(await plain.json())["draft_id"]]
    second = drafts[(await named.json())["draft_id"]]
    assert (first.citizen, first.session_id, first.thread_id, first.lead_id) == (
        "emma",
        session_id,
        thread,
        lead_id,
    )
    assert (second.citizen, second.session_id, second.lead_id) == ("emma", session_id, other_lead)


async def test_a_draft_naming_another_citizen_or_thread_is_403(client: TestClient, db: Db) -> None:
    own, other = await make_thread(db, "Ada"), await make_thread(db, "Bob")
    _, headers = await running_session(db, "emma", thread_id=own)
    before = await stored_counts(db)

    for fields in ({"citizen": "rafael"}, {"thread_id": other}):
        await assert_error(await post_draft(client, headers, **fields), 403, "forbidden")
    assert await stored_counts(db) == before


async def test_the_operator_token_keeps_its_full_access(
    aiohttp_client: Any, make_settings: Callable[..., Settings], engine: AsyncEngine, db: Db
) -> None:
    api = await aiohttp_client(create_app(make_settings(), engine))
    await running_session(db)
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    for path in ("/api/sessions", "/api/events", "/api/threads", "/api/drafts"):
        assert (await api.get(path, headers=headers)).status == 200
    created = await post_draft(api, headers, citizen="daniel")
    assert created.status == 201
    [draft] = await stored_drafts(db)
    assert (draft.citizen, draft.session_id) == ("daniel", None)


async def test_a_sessions_notes_are_written_as_its_citizen(client: TestClient, db: Db) -> None:
    _, headers = await running_session(db, "emma")

    written = await client.post("/api/notes", json={"text": "Scanned 12 posts."}, headers=headers)
    forged = await client.post(
        "/api/notes", json={"text": "I am Rafael.", "citizen": "rafael"}, headers=headers
    )

    assert written.status == 201
    assert (await written.json())["citizen"] == "emma"
    await assert_error(forged, 403, "forbidden")
    listed = await (await client.get("/api/notes", headers=headers)).json()
    assert [(n["citizen"], n["text"]) for n in listed["notes"]] == [("emma", "Scanned 12 posts.")]
