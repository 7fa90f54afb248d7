"""`GET /api/sessions` and `GET /api/session/{id}` (CONTRACT §3).

The runner owns the sessions' life cycle, so these tests insert the rows directly.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import CitizenSession
from storage.repo import citizen_queue, session_budget
from storage.repo.citizen_queue import CliResult
from tests.citizens_support import enqueue_session, make_thread
from tests.factories import insert_sessions
from tests.paging import UTC_TIMESTAMP, assert_error, fetch_page, walk_pages

DB = async_sessionmaker[AsyncSession]


async def test_get_answers_every_contract_field(api: TestClient, db: DB) -> None:
    started = datetime(2025, 11, 2, 14, 23, tzinfo=UTC)
    row = CitizenSession(
        id=str(uuid.uuid4()),
        citizen="emma",
        trigger="webhook",
        prompt="Evaluate this job",
        status="failed",
        exit_code=137,
        output_tail="…killed after 900 s",
        created_at=started - timedelta(seconds=5),
        started_at=started,
        finished_at=started + timedelta(minutes=15),
    )
    async with db() as session, session.begin():
        session.add(row)

    response = await api.get(f"/api/session/{row.id}")

    assert response.status == 200
    body = await response.json()
    assert {
        key: body[key]
        for key in ("id", "citizen", "trigger", "status", "exit_code", "output_tail")
    } == {
        "id": row.id,
        "citizen": "emma",
        "trigger": "webhook",
        "status": "failed",
        "exit_code": 137,
        "output_tail": "…killed after 900 s",
    }
    assert body["started_at"] == "2025-11-02T14:23:00Z"
    assert body["finished_at"] == "2025-11-02T14:38:00Z"
    assert "prompt" not in body


async def test_queued_session_has_null_times_and_exit_code(api: TestClient, db: DB) -> None:
    [session_id] = await insert_sessions(db, 1, status="queued")
    body = await (await api.get(f"/api/session/{session_id}")).json()
    assert body["status"] == "queued"
    assert (body["exit_code"], body["started_at"], body["finished_at"]) == (None, None, None)


async def test_unknown_session_is_404(api: TestClient) -> None:
    for session_id in [str(uuid.uuid4()), "nope", "%00", "s" * 100]:
        response = await api.get(f"/api/session/{session_id}")
        await assert_error(response, 404, "session_not_found")


async def test_list_is_newest_first_and_filters_by_citizen_and_status(
    api: TestClient, db: DB
) -> None:
    at = datetime(2025, 11, 2, tzinfo=UTC)
    rafael_done = await insert_sessions(db, 2, citizen="rafael", created_at=at)
    emma_failed = await insert_sessions(
        db, 1, citizen="emma", status="failed", created_at=at + timedelta(hours=1)
    )
    rafael_running = await insert_sessions(
        db, 1, citizen="rafael", status="running", created_at=at + timedelta(hours=2)
    )
    daniel_queued = await insert_sessions(
        db, 1, citizen="daniel", status="queued", created_at=at + timedelta(hours=3)
    )

    async def ids(**params: str) -> list[str]:
        sessions, _ = await fetch_page(api, "/api/sessions", "sessions", **params)
        for session in sessions:
            assert UTC_TIMESTAMP.match(session["created_at"])
        return [session["id"] for session in sessions]

    everything = await ids()
    assert everything[:3] == [*daniel_queued, *rafael_running, *emma_failed]
    assert set(everything[3:]) == set(rafael_done)
    assert set(await ids(citizen="rafael")) == {*rafael_done, *rafael_running}
    assert await ids(status="running") == rafael_running
    assert set(await ids(status="completed")) == set(rafael_done)
    assert await ids(citizen="emma", status="failed") == emma_failed
    assert await ids(citizen="emma", status="completed") == []
    assert await ids(citizen="nobody") == []


async def test_pages_hold_every_session_once_even_with_equal_times(
    api: TestClient, db: DB
) -> None:
    at = datetime(2025, 11, 2, tzinfo=UTC)
    same_instant = await insert_sessions(db, 5, created_at=at)
    spread = await insert_sessions(db, 6)

    pages = await walk_pages(api, "/api/sessions", "sessions", limit=3)

    seen = [session["id"] for page in pages for session in page]
    assert len(seen) == len(set(seen)) == 11
    assert set(seen) == {*same_instant, *spread}
    assert seen[:6] == spread[::-1]
    filtered = await walk_pages(api, "/api/sessions", "sessions", limit=2, citizen="rafael")
    assert [session["id"] for page in filtered for session in page] == seen


async def test_pages_are_stable_while_new_sessions_arrive(api: TestClient, db: DB) -> None:
    older = await insert_sessions(db, 5)
    page, cursor = await fetch_page(api, "/api/sessions", "sessions", limit=2)
    seen = [session["id"] for session in page]
    newer = await insert_sessions(db, 3, created_at=datetime.now(UTC))
    while cursor is not None:
        page, cursor = await fetch_page(api, "/api/sessions", "sessions", limit=2, cursor=cursor)
        seen += [session["id"] for session in page]
    assert seen == older[::-1]
    assert not set(newer) & set(seen)


async def test_bad_list_query_is_400(api: TestClient) -> None:
    for params, field in [
        ({"status": "done"}, "status"),
        ({"citizen": "c" * 51}, "citizen"),
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
        ({"trigger": "manual"}, "trigger"),
    ]:
        response = await api.get("/api/sessions", params=params)
        await assert_error(response, 400, "invalid_query", field=field)


async def test_the_cli_result_fields_are_served_and_the_token_is_not(
    api: TestClient, db: DB
) -> None:
    thread_id = await make_thread(db)
    session_id = await enqueue_session(db, "rafael", "Reply.", thread_id=thread_id)
    async with db() as session, session.begin():
        await citizen_queue.claim_next(
            session=session, citizen="rafael", claimed_by="h:1:x", token_hash="f" * 64
        )
        await citizen_queue.finish(
            session=session,
            session_id=session_id,
            status="failed",
            exit_code=1,
            error="Not logged in · Please run /login (exited with code 1)",
            result=CliResult("c0ffee-1", 0.125, 3, "Not logged in · Please run /login"),
        )
    waiting = await enqueue_session(db, "emma", "Later.")
    async with db() as session, session.begin():
        await session_budget.hold(session=session)

    body = await (await api.get(f"/api/session/{session_id}")).json()
    assert {key: body[key] for key in FIELDS_V2} == {
        "thread_id": thread_id,
        "claude_session_id": "c0ffee-1",
        "cost_usd": 0.125,
        "turns": 3,
        "result": "Not logged in · Please run /login",
        "waiting_reason": None,
    }
    assert not {"token_hash", "pid", "pgid", "prompt", "run_anyway"} & set(body)
    listed = await (await api.get(f"/api/sessions?thread_id={thread_id}")).json()
    assert [s["id"] for s in listed["sessions"]] == [session_id]
    held = await (await api.get(f"/api/session/{waiting}")).json()
    assert (held["status"], held["waiting_reason"]) == ("queued", "daily budget")


FIELDS_V2 = ("thread_id", "claude_session_id", "cost_usd", "turns", "result", "waiting_reason")
