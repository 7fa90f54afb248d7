"""`GET /api/threads`, `GET /api/thread/{id}` (CONTRACT §9) and what drafts carry of their
thread: `note`, `thread_id`, `lead_id`, `feedback` and the `thread_id` / `client` filters.

Threads are written by the webhook (see the threads work); these tests insert rows directly.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import CitizenSession, DraftFeedback, Thread, ThreadMessage
from tests.factories import draft_body, lead_body
from tests.paging import assert_error

DB = async_sessionmaker[AsyncSession]
AT = datetime(2025, 11, 2, 14, 0, tzinfo=UTC)


async def insert_thread(db: DB, *, client: str = "John Doe", minutes: int = 0) -> str:
    thread = Thread(
        id=str(uuid.uuid4()),
        platform="upwork",
        client=client,
        job_title="AI chat widget",
        job_link="https://www.upwork.com/jobs/~01",
        created_at=AT,
        last_message_at=AT + timedelta(minutes=minutes),
        waiting_since=AT + timedelta(minutes=minutes),
    )
    async with db() as session, session.begin():
        session.add(thread)
        session.add(
            ThreadMessage(thread_id=thread.id, direction="in", text="Can we add a login?", at=AT)
        )
    return thread.id


async def test_a_draft_carries_its_note_thread_and_lead(api: TestClient, db: DB) -> None:
    thread_id = await insert_thread(db)
    lead = await (await api.post("/api/leads", json=lead_body())).json()
    body = draft_body(note="The client tried to change the price.", thread_id=thread_id)
    body["lead_id"] = lead["lead_id"]

    created = await api.post("/api/draft/create", json=body)

    assert created.status == 201
    draft_id = (await created.json())["draft_id"]
    draft = await (await api.get(f"/api/draft/{draft_id}")).json()
    assert draft["note"] == "The client tried to change the price."
    assert (draft["thread_id"], draft["lead_id"]) == (thread_id, lead["lead_id"])
    assert (draft["session_id"], draft["sent_at"], draft["decided_at"]) == (None, None, None)
    assert draft["feedback"] == []


async def test_unknown_thread_or_lead_is_422_and_stores_nothing(api: TestClient) -> None:
    for field, value in [("thread_id", str(uuid.uuid4())), ("lead_id", 424242)]:
        response = await api.post("/api/draft/create", json=draft_body(**{field: value}))
        error = await assert_error(response, 422, "validation_error")
        assert error["details"][0]["field"] == field
    listed = await (await api.get("/api/drafts")).json()
    assert listed["drafts"] == []


async def test_note_over_1000_characters_is_422(api: TestClient) -> None:
    response = await api.post("/api/draft/create", json=draft_body(note="n" * 1001))
    await assert_error(response, 422, "validation_error")


async def test_drafts_filter_by_thread_and_client(api: TestClient, db: DB) -> None:
    thread_id = await insert_thread(db)
    in_thread = await api.post(
        "/api/draft/create", json=draft_body(thread_id=thread_id, client="John Doe")
    )
    await api.post("/api/draft/create", json=draft_body(client="Someone Else"))
    wanted = (await in_thread.json())["draft_id"]

    by_thread = await (await api.get("/api/drafts", params={"thread_id": thread_id})).json()
    by_client = await (await api.get("/api/drafts", params={"client": "john DOE"})).json()

    assert [d["id"] for d in by_thread["drafts"]] == [wanted]
    assert [d["id"] for d in by_client["drafts"]] == [wanted]


async def test_thread_view_has_messages_drafts_feedback_and_sessions(
    api: TestClient, db: DB
) -> None:
    thread_id = await insert_thread(db)
    created = await api.post("/api/draft/create", json=draft_body(thread_id=thread_id))
    draft_id = (await created.json())["draft_id"]
    session_id = str(uuid.uuid4())
    async with db() as session, session.begin():
        session.add(DraftFeedback(draft_id=draft_id, kind="reject_reason", text="Too long", at=AT))
        session.add(
            CitizenSession(
                id=session_id,
                citizen="rafael",
                trigger="webhook",
                prompt="p",
                status="completed",
                thread_id=thread_id,
                cost_usd=0.25,
            )
        )

    response = await api.get(f"/api/thread/{thread_id}")

    assert response.status == 200
    thread = await response.json()
    assert thread["client"] == "John Doe"
    assert thread["waiting_since"] == "2025-11-02T14:00:00Z"
    assert thread["messages"] == [
        {
            "direction": "in",
            "text": "Can we add a login?",
            "at": "2025-11-02T14:00:00Z",
            "draft_id": None,
        }
    ]
    [draft] = thread["drafts"]
    assert (draft["id"], draft["status"]) == (draft_id, "pending")
    assert draft["feedback"] == [
        {
            "kind": "reject_reason",
            "text": "Too long",
            "old_text": None,
            "at": "2025-11-02T14:00:00Z",
        }
    ]
    assert thread["sessions"] == [
        {"id": session_id, "citizen": "rafael", "status": "completed", "cost_usd": 0.25}
    ]
    api_draft = await (await api.get(f"/api/draft/{draft_id}")).json()
    assert api_draft["feedback"] == draft["feedback"]
    sessions = await (await api.get("/api/sessions", params={"thread_id": thread_id})).json()
    assert [s["id"] for s in sessions["sessions"]] == [session_id]


async def test_threads_list_latest_first_by_client_and_waiting(api: TestClient, db: DB) -> None:
    older = await insert_thread(db, client="Ann", minutes=0)
    newer = await insert_thread(db, client="Bob", minutes=5)
    async with db() as session, session.begin():
        answered = await session.get(Thread, older)
        assert answered is not None
        answered.waiting_since = None

    everything = await (await api.get("/api/threads")).json()
    waiting = await (await api.get("/api/threads", params={"waiting": "true"})).json()
    ann = await (await api.get("/api/threads", params={"client": "ann"})).json()
    first = await (await api.get("/api/threads", params={"limit": "1"})).json()
    second = await (
        await api.get("/api/threads", params={"limit": "1", "cursor": first["next_cursor"]})
    ).json()

    assert [t["id"] for t in everything["threads"]] == [newer, older]
    assert [t["id"] for t in waiting["threads"]] == [newer]
    assert [t["id"] for t in ann["threads"]] == [older]
    assert [t["id"] for t in first["threads"] + second["threads"]] == [newer, older]
    assert second["next_cursor"] is None


async def test_unknown_thread_is_404(api: TestClient) -> None:
    for thread_id in [str(uuid.uuid4()), "nope", "%00"]:
        await assert_error(await api.get(f"/api/thread/{thread_id}"), 404, "thread_not_found")
