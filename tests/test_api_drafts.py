"""`POST /api/draft/create`, `GET /api/draft/{id}`, `GET /api/drafts` (CONTRACT §3)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.settings import Settings
from storage.models import Draft, DraftFeedback, Event, OutboxMessage
from storage.repo import citizen_queue, session_tokens
from storage.repo.draft_intake import Card
from storage.types import utcnow
from tests.conftest import API_TOKEN
from tests.factories import OMIT, draft_body, event_names, stored_counts
from tests.paging import UTC_TIMESTAMP, assert_error, fetch_page, walk_pages
from tests.statements import sent
from tests.test_webhooks_signed import SECRET, UPWORK, signed, upwork_body
from web.app import create_app
from web.webhooks import ENDPOINTS

DB = async_sessionmaker[AsyncSession]


async def create(api: TestClient, **overrides: Any) -> str:
    response = await api.post("/api/draft/create", json=draft_body(**overrides))
    assert response.status == 201, await response.text()
    return (await response.json())["draft_id"]


async def test_create_answers_201_pending_and_stores_draft_with_event(
    api: TestClient, db: DB
) -> None:
    body = draft_body(context={"job_link": "https://example.com/job/1", "n": [1, 2.5]})
    response = await api.post("/api/draft/create", json=body)

    assert response.status == 201
    created = await response.json()
    assert set(created) == {"draft_id", "status", "telegram_sent"}
    assert str(uuid.UUID(created["draft_id"])) == created["draft_id"]
    assert created["status"] == "pending"
    assert created["telegram_sent"] is False  # Telegram is off in these tests
    async with db() as session:
        draft = await session.get(Draft, created["draft_id"])
        assert draft is not None
        assert (draft.client, draft.job_title, draft.message, draft.draft_text) == (
            body["client"],
            body["job_title"],
            body["message"],
            body["draft_text"],
        )
        assert (draft.confidence, draft.status, draft.citizen) == (85, "pending", "rafael")
        assert draft.context == body["context"]
        events = (await session.scalars(select(Event))).all()
    assert [event.event for event in events] == ["draft.created@1.0"]
    assert events[0].payload["draft_id"] == created["draft_id"]
    assert events[0].payload["citizen"] == "rafael"


async def test_create_keeps_given_citizen_and_defaults_context_to_empty_object(
    api: TestClient,
) -> None:
    draft_id = await create(api, citizen="emma", context=OMIT)
    draft = await (await api.get(f"/api/draft/{draft_id}")).json()
    assert draft["citizen"] == "emma"
    assert draft["context"] == {}


async def test_get_answers_every_contract_field_with_utc_timestamps(api: TestClient) -> None:
    body = draft_body(context={"a": {"b": None}})
    draft_id = await create(api, **body)

    response = await api.get(f"/api/draft/{draft_id}")

    assert response.status == 200
    draft = await response.json()
    contract_fields = {
        "id", "client", "job_title", "message", "draft_text", "confidence", "context",
        "status", "telegram_message_id", "created_at", "updated_at",
    }  # fmt: skip
    assert contract_fields <= set(draft)
    assert draft["id"] == draft_id
    assert {key: draft[key] for key in body} == body
    assert draft["citizen"] == "rafael"
    assert draft["status"] == "pending"
    assert draft["telegram_message_id"] is None
    assert UTC_TIMESTAMP.match(draft["created_at"]), draft["created_at"]
    assert UTC_TIMESTAMP.match(draft["updated_at"]), draft["updated_at"]


async def test_a_draft_and_its_feedback_are_read_in_one_round_trip(
    api: TestClient, db: DB, engine: AsyncEngine
) -> None:
    draft_id = await create(api)
    later = utcnow() + timedelta(seconds=1)
    async with db() as session, session.begin():
        session.add(DraftFeedback(draft_id=draft_id, kind="edit", text="B", old_text="A"))
        session.add(DraftFeedback(draft_id=draft_id, kind="redraft", text="shorter", at=later))

    with sent(engine) as statements:
        response = await api.get(f"/api/draft/{draft_id}")
    assert response.status == 200
    feedback = (await response.json())["feedback"]

    assert len(statements) == 1, statements
    assert [(f["kind"], f["text"], f["old_text"]) for f in feedback] == [
        ("edit", "B", "A"),
        ("redraft", "shorter", None),
    ]
    assert UTC_TIMESTAMP.match(feedback[1]["at"])
    alone = await create(api)
    assert (await (await api.get(f"/api/draft/{alone}")).json())["feedback"] == []


async def test_get_unknown_draft_is_404(api: TestClient) -> None:
    for draft_id in ["nope", str(uuid.uuid4()), "x" * 300, "%00", "a%00b", "%C3%A9", "%ED%A0%80"]:
        response = await api.get(f"/api/draft/{draft_id}")
        await assert_error(response, 404, "draft_not_found")


INVALID_BODIES: list[tuple[str, dict[str, Any]]] = [
    ("client", draft_body(client=OMIT)),
    ("client", draft_body(client="")),
    ("client", draft_body(client="   ")),
    ("client", draft_body(client="c" * 201)),
    ("client", draft_body(client=None)),
    ("client", draft_body(client=42)),
    ("client", draft_body(client="nul\x00byte")),
    ("job_title", draft_body(job_title="j" * 501)),
    ("job_title", draft_body(job_title=OMIT)),
    ("message", draft_body(message=OMIT)),
    ("message", draft_body(message=["a"])),
    ("message", draft_body(message="")),
    ("message", draft_body(message="m" * 50_001)),
    ("draft_text", draft_body(draft_text="")),
    ("draft_text", draft_body(draft_text="d" * 20_001)),
    ("draft_text", draft_body(draft_text=OMIT)),
    ("confidence", draft_body(confidence=-1)),
    ("confidence", draft_body(confidence=101)),
    ("confidence", draft_body(confidence="85")),
    ("confidence", draft_body(confidence=True)),
    ("confidence", draft_body(confidence=85.5)),
    ("confidence", draft_body(confidence=OMIT)),
    ("confidence", draft_body(confidence=10**30)),
    ("context", draft_body(context=[1, 2])),
    ("context", draft_body(context="{}")),
    ("context", draft_body(context={"k": "nul\x00"})),
    ("context", draft_body(context={"nul\x00key": 1})),
    ("citizen", draft_body(citizen="Rafael")),
    ("citizen", draft_body(citizen="../etc")),
    ("citizen", draft_body(citizen="")),
    ("status", draft_body(status="approved")),
    ("draft_id", draft_body(draft_id=str(uuid.uuid4()))),
]


async def test_invalid_field_is_422_naming_it_and_stores_nothing(api: TestClient, db: DB) -> None:
    before = await stored_counts(db)
    for field, body in INVALID_BODIES:
        response = await api.post("/api/draft/create", json=body)

        error = await assert_error(response, 422, "validation_error", field=field)
        assert field in error["message"], error
    assert await stored_counts(db) == before


async def test_the_longest_allowed_fields_are_stored_whole(api: TestClient, db: DB) -> None:
    body = draft_body(
        client="c" * 200, job_title="j" * 500, message="m" * 50_000, draft_text="d" * 20_000
    )
    response = await api.post("/api/draft/create", json=body)

    assert response.status == 201, await response.text()
    draft_id = (await response.json())["draft_id"]
    stored = await (await api.get(f"/api/draft/{draft_id}")).json()
    assert {
        field: stored[field] for field in ("client", "job_title", "message", "draft_text")
    } == {field: body[field] for field in ("client", "job_title", "message", "draft_text")}


async def test_list_is_newest_first_and_filters_by_status(api: TestClient, db: DB) -> None:
    ids = [await create(api, client=f"client {i}") for i in range(5)]
    async with db() as session, session.begin():
        await session.execute(update(Draft).where(Draft.id == ids[1]).values(status="approved"))
        await session.execute(update(Draft).where(Draft.id == ids[3]).values(status="rejected"))

    everything, cursor = await fetch_page(api, "/api/drafts", "drafts")
    assert [draft["id"] for draft in everything] == ids[::-1]
    assert cursor is None
    for status, expected in [
        ("pending", [ids[4], ids[2], ids[0]]),
        ("approved", [ids[1]]),
        ("rejected", [ids[3]]),
    ]:
        drafts, _ = await fetch_page(api, "/api/drafts", "drafts", status=status)
        assert [draft["id"] for draft in drafts] == expected
        assert {draft["status"] for draft in drafts} == {status}


async def test_pages_hold_every_draft_exactly_once_even_with_equal_timestamps(
    api: TestClient, db: DB
) -> None:
    now = utcnow()
    same_instant = [str(uuid.uuid4()) for _ in range(7)]
    async with db() as session, session.begin():
        for index, draft_id in enumerate([*same_instant, *(str(uuid.uuid4()) for _ in range(4))]):
            created_at = now if index < 7 else now - timedelta(seconds=index)
            session.add(
                Draft(
                    id=draft_id,
                    client="c",
                    job_title="j",
                    message="m",
                    draft_text="d",
                    confidence=50,
                    created_at=created_at,
                    updated_at=created_at,
                )
            )

    pages = await walk_pages(api, "/api/drafts", "drafts", limit=2)

    seen = [draft["id"] for page in pages for draft in page]
    assert len(seen) == len(set(seen)) == 11
    assert [len(page) for page in pages] == [2, 2, 2, 2, 2, 1]
    keys = [(draft["created_at"], draft["id"]) for page in pages for draft in page]
    assert keys == sorted(keys, reverse=True)


async def test_pages_are_stable_while_new_drafts_arrive(api: TestClient) -> None:
    first = [await create(api) for _ in range(5)]
    page, cursor = await fetch_page(api, "/api/drafts", "drafts", limit=2)
    seen = [draft["id"] for draft in page]
    newer = [await create(api) for _ in range(3)]
    while cursor is not None:
        page, cursor = await fetch_page(api, "/api/drafts", "drafts", limit=2, cursor=cursor)
        seen += [draft["id"] for draft in page]
    assert seen == first[::-1]
    assert not set(newer) & set(seen)


async def test_default_limit_is_50(api: TestClient, db: DB) -> None:
    now = utcnow()
    async with db() as session, session.begin():
        session.add_all(
            Draft(
                id=str(uuid.uuid4()),
                client="c",
                job_title="j",
                message="m",
                draft_text="d",
                confidence=1,
                created_at=now - timedelta(seconds=i),
                updated_at=now,
            )
            for i in range(51)
        )
    drafts, cursor = await fetch_page(api, "/api/drafts", "drafts")
    assert len(drafts) == 50
    assert cursor is not None
    rest, cursor = await fetch_page(api, "/api/drafts", "drafts", cursor=cursor)
    assert len(rest) == 1
    assert cursor is None


async def test_bad_list_query_is_400(api: TestClient) -> None:
    for params, field in [
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "1.5"}, "limit"),
        ({"status": "pending_approval"}, "status"),
        ({"colour": "blue"}, "colour"),
    ]:
        response = await api.get("/api/drafts", params=params)
        await assert_error(response, 400, "invalid_query", field=field)


async def test_limit_bounds_are_inclusive(api: TestClient) -> None:
    for limit in ("1", "200"):
        response = await api.get("/api/drafts", params={"limit": limit})
        assert response.status == 200, await response.text()


# --- Idempotency-Key ---


async def test_replay_answers_first_response_byte_for_byte_and_creates_nothing(
    api: TestClient, db: DB
) -> None:
    headers = {"Idempotency-Key": "rafael-reply-42"}
    first = await api.post("/api/draft/create", json=draft_body(), headers=headers)
    first_bytes = await first.read()
    assert first.status == 201

    again = await api.post("/api/draft/create", json=draft_body(), headers=headers)

    assert again.status == 201
    assert await again.read() == first_bytes
    assert (await stored_counts(db))["drafts"] == 1
    assert await event_names(db) == ["draft.created@1.0"]


async def test_same_key_with_another_body_is_422_and_stores_nothing(
    api: TestClient, db: DB
) -> None:
    headers = {"Idempotency-Key": "k-1"}
    first = await api.post("/api/draft/create", json=draft_body(), headers=headers)
    assert first.status == 201
    before = await stored_counts(db)

    response = await api.post(
        "/api/draft/create", json=draft_body(draft_text="something else"), headers=headers
    )

    await assert_error(response, 422, "idempotency_key_reused")
    assert await stored_counts(db) == before


async def test_distinct_keys_create_distinct_drafts(api: TestClient, db: DB) -> None:
    for key in ("a", "b"):
        response = await api.post(
            "/api/draft/create", json=draft_body(), headers={"Idempotency-Key": key}
        )
        assert response.status == 201
    assert (await stored_counts(db))["drafts"] == 2


async def test_concurrent_requests_with_one_key_create_one_draft(api: TestClient, db: DB) -> None:
    async def post() -> tuple[int, bytes]:
        response = await api.post(
            "/api/draft/create", json=draft_body(), headers={"Idempotency-Key": "race"}
        )
        return response.status, await response.read()

    results = await asyncio.gather(*(post() for _ in range(10)))

    assert {status for status, _ in results} == {201}
    assert len({body for _, body in results}) == 1
    counts = await stored_counts(db)
    assert (counts["drafts"], counts["idempotency_keys"]) == (1, 1)
    assert await event_names(db) == ["draft.created@1.0"]


async def test_invalid_idempotency_key_is_422(api: TestClient, db: DB) -> None:
    for key in ["", "   ", "k" * 256, "tab\there"]:
        response = await api.post(
            "/api/draft/create", json=draft_body(), headers={"Idempotency-Key": key}
        )
        await assert_error(response, 422, "validation_error", field="Idempotency-Key")
    assert await stored_counts(db) == dict.fromkeys(await stored_counts(db), 0)


async def test_failed_request_does_not_claim_its_key(api: TestClient, db: DB) -> None:
    headers = {"Idempotency-Key": "retry-after-fix"}
    bad = await api.post("/api/draft/create", json=draft_body(confidence=500), headers=headers)
    assert bad.status == 422

    good = await api.post("/api/draft/create", json=draft_body(), headers=headers)

    assert good.status == 201
    assert (await stored_counts(db))["drafts"] == 1


class DeliveringNotifier:
    """A DraftNotifier whose Telegram always takes the message: records what it was given."""

    status = "ok"

    def __init__(self) -> None:
        self.carded: list[str] = []
        self.delivered: list[int | None] = []

    def card(
        self, draft: Draft, thread: object = None, *, notice_outbox_id: int | None = None
    ) -> Card | None:
        self.carded.append(draft.id)
        return Card(chat_id=42, text=f"card of {draft.id}")

    async def deliver(self, outbox_id: int | None) -> bool:
        self.delivered.append(outbox_id)
        return True


async def test_delivered_notification_is_reported_and_replayed_without_a_second_one(
    aiohttp_client: Any, settings: Settings, engine: AsyncEngine, db: DB
) -> None:
    notifier = DeliveringNotifier()
    client: TestClient = await aiohttp_client(create_app(settings, engine, notifier=notifier))
    headers = {"Authorization": f"Bearer {API_TOKEN}", "Idempotency-Key": "once"}

    first = await client.post("/api/draft/create", json=draft_body(), headers=headers)
    again = await client.post("/api/draft/create", json=draft_body(), headers=headers)

    assert (first.status, again.status) == (201, 201)
    created = await first.json()
    assert created["telegram_sent"] is True
    assert await again.read() == await first.read()
    assert (await stored_counts(db))["drafts"] == 1
    async with db() as session:
        [card] = (await session.scalars(select(OutboxMessage))).all()
    assert (card.draft_id, card.chat_id, card.text) == (
        created["draft_id"],
        42,
        f"card of {created['draft_id']}",
    )
    assert notifier.delivered == [card.id]


@pytest.mark.usefixtures("citizens_home")
async def test_a_draft_racing_the_clients_next_message_never_stays_pending(
    aiohttp_client: Any, make_settings: Callable[..., Settings], engine: AsyncEngine, db: DB
) -> None:
    """CONTRACT §14: a draft posted by a session while its client writes again answers an older
    message, however the two requests interleave: stored superseded at once, or superseded by
    the client's message. On PostgreSQL the requests really overlap (a pool of connections)."""
    app = create_app(make_settings(webhook_secret=SECRET), engine, extra_endpoints=ENDPOINTS)
    client = await aiohttp_client(app)
    first = upwork_body(client="Jane Roe", message="Message 0", thread="race")
    assert (await client.post(UPWORK, data=first, headers=signed(first))).status == 202
    rounds = 40
    for n in range(1, rounds + 1):
        # The session the last message queued starts now: the client then writes again.
        token = session_tokens.new_token()
        async with db() as session, session.begin():
            running = await citizen_queue.claim_next(
                session=session,
                citizen="rafael",
                claimed_by="test:1:x",
                token_hash=session_tokens.token_hash(token),
            )
        assert running is not None
        again = upwork_body(client="Jane Roe", message=f"Message {n}", thread="race")
        posted, wrote = await asyncio.gather(
            client.post(
                "/api/draft/create",
                json=draft_body(client="Jane Roe"),
                headers={"Authorization": f"Bearer {token}"},
            ),
            client.post(UPWORK, data=again, headers=signed(again)),
        )
        assert (posted.status, wrote.status) == (201, 202), await posted.text()
        async with db() as session, session.begin():
            await citizen_queue.finish(session=session, session_id=running.id, status="completed")

    async with db() as session:
        stored = (await session.scalars(select(Draft))).all()
        superseded = (
            await session.scalars(select(Event).where(Event.event == "draft.superseded@1.0"))  # type: ignore[arg-type]
        ).all()
    assert len(stored) == rounds
    assert [d.id for d in stored if d.status != "superseded"] == []
    assert sorted(e.payload["draft_id"] for e in superseded) == sorted(d.id for d in stored)
