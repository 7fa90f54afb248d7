"""The Mini App's draft actions (CONTRACT §12): the same state changes, events and feedback as
the buttons, first decision wins, and a stale page is told so. On both databases."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.charts import CHARTS
from bot.settings import Settings
from storage.models import Draft, DraftFeedback, Event, Thread, ThreadMessage
from storage.types import utcnow
from tests.conftest import TELEGRAM_TOKEN
from tests.factories import draft_body, stored_counts
from tests.miniapp_support import headers
from tests.telegram_updates import OPERATOR_ID
from web.app import create_app

DB = async_sessionmaker[AsyncSession]
LONG_TEXT = "Hello Jane,\n\n" + "A sentence about the plan, with détails & <tags>. " * 40


@pytest.fixture
async def app_client(
    aiohttp_client: Any, make_settings: Callable[..., Settings], engine: AsyncEngine
) -> TestClient:
    settings = make_settings(telegram_bot_token=TELEGRAM_TOKEN, telegram_chat_id=OPERATOR_ID)
    client: TestClient = await aiohttp_client(create_app(settings, engine, charts=CHARTS))
    client.session.headers.update(headers())
    return client


async def new_draft(api: TestClient, **fields: Any) -> str:
    response = await api.post("/api/draft/create", json=draft_body(**fields))
    assert response.status == 201
    return str((await response.json())["draft_id"])


async def act(client: TestClient, draft_id: str, **body: Any) -> tuple[int, dict[str, Any]]:
    response = await client.post(f"/app/api/draft/{draft_id}", json=body)
    return response.status, await response.json()


async def events_of(db: DB, draft_id: str) -> list[tuple[str, dict[str, Any]]]:
    """The draft's events after its creation."""
    async with db() as session:
        rows = await session.scalars(select(Event).order_by(Event.id))  # type: ignore[arg-type]
        return [
            (e.event, e.payload)
            for e in rows
            if e.payload.get("draft_id") == draft_id and e.event != "draft.created@1.0"
        ]


async def feedback_of(db: DB, draft_id: str) -> list[tuple[str, str, str | None]]:
    async with db() as session:
        rows = await session.scalars(
            select(DraftFeedback).where(DraftFeedback.draft_id == draft_id)  # type: ignore[arg-type]
        )
        return [(f.kind, f.text, f.old_text) for f in rows]


async def stored(db: DB, draft_id: str) -> Draft:
    async with db() as session:
        draft = await session.get(Draft, draft_id)
    assert draft is not None
    return draft


async def test_pending_drafts_oldest_first_with_waiting_time_and_flag(
    app_client: TestClient, api: TestClient, db: DB
) -> None:
    thread_id = str(uuid.uuid4())
    client_wrote = utcnow() - timedelta(hours=3)  # her oldest message not yet answered
    second = await new_draft(api, draft_text="x" * 500)  # written before, waiting less long
    async with db() as session, session.begin():
        session.add(
            Thread(
                id=thread_id,
                platform="upwork",
                client="Jane",
                job_title="Bot",
                waiting_since=client_wrote,
            )
        )
        for direction, at in (
            ("in", client_wrote - timedelta(hours=2)),
            ("out", client_wrote - timedelta(hours=1)),
            ("in", client_wrote),
            ("in", client_wrote + timedelta(hours=2)),  # her last message
        ):
            session.add(ThreadMessage(thread_id=thread_id, direction=direction, text="Hi", at=at))
    first = await new_draft(api, confidence=30, thread_id=thread_id, note="Check the budget")
    decided = await new_draft(api)
    await act(app_client, decided, action="approve")

    response = await app_client.get("/app/api/drafts")

    assert response.status == 200
    page = await response.json()
    assert [d["id"] for d in page["drafts"]] == [first, second]
    one, two = page["drafts"]
    assert (one["low_confidence"], two["low_confidence"]) == (True, False)
    assert one["note"] == "Check the budget" and one["thread_id"] == thread_id
    # Since her oldest unanswered message, as cards, reminders and GET /api/thread say.
    assert one["waiting_since"].startswith(client_wrote.isoformat()[:19])
    assert two["waiting_since"] == two["created_at"]
    shown = await app_client.get(f"/app/api/draft/{first}")
    assert (await shown.json())["waiting_since"] == one["waiting_since"]
    assert len(two["excerpt"]) == 160
    assert page["now"]


async def test_edit_replaces_the_text_with_its_event_and_feedback(
    app_client: TestClient, api: TestClient, db: DB
) -> None:
    draft_id = await new_draft(api)
    loaded = await (await app_client.get(f"/app/api/draft/{draft_id}")).json()

    status, body = await act(
        app_client, draft_id, action="edit", text=LONG_TEXT, updated_at=loaded["updated_at"]
    )

    assert status == 200, body
    assert body["draft_text"] == LONG_TEXT and body["status"] == "pending"
    assert body["updated_at"] != loaded["updated_at"]
    assert (await stored(db, draft_id)).draft_text == LONG_TEXT
    [(name, payload)] = await events_of(db, draft_id)
    assert name == "draft.edited@1.0"
    assert payload["new_text"] == LONG_TEXT and payload["old_text"] == loaded["draft_text"]
    assert (payload["edited_by"], payload["via"]) == (OPERATOR_ID, "mini_app")
    assert await feedback_of(db, draft_id) == [("edit", LONG_TEXT, loaded["draft_text"])]
    assert [f["kind"] for f in body["feedback"]] == ["edit"]


async def test_save_and_approve_does_both_in_one_step(
    app_client: TestClient, api: TestClient, db: DB
) -> None:
    draft_id = await new_draft(api)

    status, body = await act(app_client, draft_id, action="approve", text=LONG_TEXT)

    assert status == 200, body
    draft = await stored(db, draft_id)
    assert (draft.status, draft.draft_text, draft.decided_by) == (
        "approved",
        LONG_TEXT,
        OPERATOR_ID,
    )
    names = [name for name, _ in await events_of(db, draft_id)]
    assert names == ["draft.edited@1.0", "draft.approved@1.0"]
    assert (await events_of(db, draft_id))[1][1]["via"] == "mini_app"


async def test_approve_with_the_same_text_writes_no_edit(
    app_client: TestClient, api: TestClient, db: DB
) -> None:
    draft_id = await new_draft(api)
    status, _ = await act(app_client, draft_id, action="approve", text=draft_body()["draft_text"])
    assert status == 200
    assert [name for name, _ in await events_of(db, draft_id)] == ["draft.approved@1.0"]
    assert await feedback_of(db, draft_id) == []


async def test_reject_with_a_reason(app_client: TestClient, api: TestClient, db: DB) -> None:
    draft_id = await new_draft(api)

    status, body = await act(app_client, draft_id, action="reject", reason="Wrong tone")

    assert status == 200, body
    assert body["status"] == "rejected"
    assert (await stored(db, draft_id)).status == "rejected"
    found = await events_of(db, draft_id)
    assert [name for name, _ in found] == ["draft.rejected@1.0", "draft.feedback@1.0"]
    assert found[1][1]["kind"] == "reject_reason" and found[1][1]["text"] == "Wrong tone"
    assert await feedback_of(db, draft_id) == [("reject_reason", "Wrong tone", None)]


async def test_reject_without_a_reason(app_client: TestClient, api: TestClient, db: DB) -> None:
    draft_id = await new_draft(api)
    status, _ = await act(app_client, draft_id, action="reject")
    assert status == 200
    assert [name for name, _ in await events_of(db, draft_id)] == ["draft.rejected@1.0"]
    assert await feedback_of(db, draft_id) == []


async def test_redraft_supersedes_with_the_instruction(
    app_client: TestClient, api: TestClient, db: DB
) -> None:
    draft_id = await new_draft(api)

    status, body = await act(app_client, draft_id, action="redraft", instruction="Shorter")

    assert status == 200, body
    assert (await stored(db, draft_id)).status == "superseded"
    [(name, payload)] = await events_of(db, draft_id)
    assert name == "draft.redraft_requested@1.0" and payload["instruction"] == "Shorter"
    assert await feedback_of(db, draft_id) == [("redraft", "Shorter", None)]


@pytest.mark.parametrize(
    "second",
    [
        {"action": "approve"},
        {"action": "reject"},
        {"action": "edit", "text": "late"},
        {"action": "redraft", "instruction": "late"},
    ],
)
async def test_the_first_decision_wins(
    app_client: TestClient, api: TestClient, db: DB, second: dict[str, Any]
) -> None:
    draft_id = await new_draft(api)
    assert (await act(app_client, draft_id, action="approve"))[0] == 200
    before = await stored_counts(db)

    status, body = await act(app_client, draft_id, **second)

    assert status == 409
    assert body["error"]["code"] == "draft_not_pending"
    draft = await stored(db, draft_id)
    assert (draft.status, draft.draft_text) == ("approved", draft_body()["draft_text"])
    assert await stored_counts(db) == before


async def test_a_stale_page_is_told_and_changes_nothing(
    app_client: TestClient, api: TestClient, db: DB
) -> None:
    draft_id = await new_draft(api)
    loaded = await (await app_client.get(f"/app/api/draft/{draft_id}")).json()
    assert (await act(app_client, draft_id, action="edit", text="Changed in chat"))[0] == 200
    before = await stored_counts(db)

    status, body = await act(
        app_client, draft_id, action="approve", text="Mine", updated_at=loaded["updated_at"]
    )

    assert status == 409 and body["error"]["code"] == "draft_changed"
    draft = await stored(db, draft_id)
    assert (draft.status, draft.draft_text) == ("pending", "Changed in chat")
    assert await stored_counts(db) == before


@pytest.mark.parametrize(
    "body",
    [
        {"action": "edit"},
        {"action": "redraft"},
        {"action": "publish"},
        {"action": "edit", "text": "   "},
        {"action": "edit", "text": "x" * 20_001},
        {"action": "reject", "text": "x"},
        {"action": "approve", "updated_at": 12},
        {"action": "approve", "extra": 1},
    ],
)
async def test_bad_bodies_are_422_and_store_nothing(
    app_client: TestClient, api: TestClient, db: DB, body: dict[str, Any]
) -> None:
    draft_id = await new_draft(api)
    before = await stored_counts(db)
    status, answer = await act(app_client, draft_id, **body)
    assert status == 422 and answer["error"]["code"] == "validation_error"
    assert await stored_counts(db) == before
    assert (await stored(db, draft_id)).status == "pending"


async def test_unknown_ids_are_404(app_client: TestClient) -> None:
    unknown = str(uuid.uuid4())
    for method, path, body in [
        ("GET", f"/app/api/draft/{unknown}", None),
        ("POST", f"/app/api/draft/{unknown}", {"action": "approve"}),
        ("GET", f"/app/api/thread/{unknown}", None),
    ]:
        response = await app_client.request(method, path, json=body)
        assert response.status == 404, path
        assert (await response.json())["error"]["code"] in ("draft_not_found", "thread_not_found")


async def test_a_thread_shows_its_history(app_client: TestClient, api: TestClient, db: DB) -> None:
    thread_id = str(uuid.uuid4())
    async with db() as session, session.begin():
        session.add(Thread(id=thread_id, platform="upwork", client="Jane", job_title="Bot"))
        session.add(ThreadMessage(thread_id=thread_id, direction="in", text="Hi there"))
    draft_id = await new_draft(api, thread_id=thread_id)
    await act(app_client, draft_id, action="reject", reason="Too long")

    response = await app_client.get(f"/app/api/thread/{thread_id}")

    assert response.status == 200
    thread = await response.json()
    assert [m["text"] for m in thread["messages"]] == ["Hi there"]
    [draft] = thread["drafts"]
    assert draft["status"] == "rejected"
    assert [(f["kind"], f["text"]) for f in draft["feedback"]] == [("reject_reason", "Too long")]


async def test_of_many_decisions_at_once_exactly_one_wins(
    app_client: TestClient, api: TestClient, db: DB
) -> None:
    draft_id = await new_draft(api)
    bodies = [{"action": "approve"}, {"action": "reject", "reason": "No"}] * 4
    bodies.append({"action": "redraft", "instruction": "Shorter"})

    answers = await asyncio.gather(*(act(app_client, draft_id, **body) for body in bodies))

    statuses = sorted(status for status, _ in answers)
    assert statuses == [200] + [409] * (len(bodies) - 1)
    names = [name for name, _ in await events_of(db, draft_id)]
    decisions = [n for n in names if n != "draft.feedback@1.0"]
    assert len(decisions) == 1
    [winner] = [answer for status, answer in answers if status == 200]
    assert (await stored(db, draft_id)).status == winner["status"]


async def test_each_chart_of_stats_is_a_png_for_an_allowed_user(
    app_client: TestClient, api: TestClient
) -> None:
    await new_draft(api)
    for kind in ("drafts", "response_time", "citizens", "cost", "leads"):
        response = await app_client.get(f"/app/api/chart/{kind}.png", params={"days": "7"})
        assert response.status == 200, kind
        assert response.content_type == "image/png"
        png = await response.read()
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5_000

    unknown = await app_client.get("/app/api/chart/pie.png")
    assert unknown.status == 404 and (await unknown.json())["error"]["code"] == "chart_not_found"
    bad_days = await app_client.get("/app/api/chart/drafts.png", params={"days": "0"})
    assert bad_days.status == 400
    stranger = await app_client.get("/app/api/chart/drafts.png", headers=headers(user_id=424242))
    assert stranger.status == 403
