"""`POST /api/event/log` and `GET /api/events` (CONTRACT §3)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import Event
from tests.factories import stored_counts
from tests.paging import UTC_TIMESTAMP, assert_error, fetch_page, walk_pages
from web.schemas import EventPage

DB = async_sessionmaker[AsyncSession]
T0 = datetime(2025, 11, 2, 14, 23, tzinfo=UTC)


async def log(api: TestClient, event: str, payload: dict[str, Any] | None = None) -> int:
    response = await api.post("/api/event/log", json={"event": event, "payload": payload or {}})
    assert response.status == 201, await response.text()
    return (await response.json())["event_id"]


async def insert_events(db: DB, *rows: tuple[str, datetime]) -> list[int]:
    """Events with chosen timestamps (the API stamps its own); returns their ids in order."""
    async with db() as session, session.begin():
        events = [
            Event(event=name, timestamp=at, payload={"i": i}) for i, (name, at) in enumerate(rows)
        ]
        session.add_all(events)
        await session.flush()
        return [event.id for event in events]  # type: ignore[misc]


async def test_log_answers_id_and_utc_timestamp_and_stores_the_event(
    api: TestClient, db: DB
) -> None:
    payload = {"draft_id": "d-1", "nested": {"list": [1, 2.5, None, True, "é"]}}
    response = await api.post(
        "/api/event/log", json={"event": "rafael.note_taken@2.10", "payload": payload}
    )

    assert response.status == 201
    created = await response.json()
    assert set(created) == {"event_id", "timestamp"}
    assert type(created["event_id"]) is int
    assert UTC_TIMESTAMP.match(created["timestamp"]), created
    async with db() as session:
        stored = (await session.scalars(select(Event))).one()
    assert (stored.id, stored.event, stored.payload) == (
        created["event_id"],
        "rafael.note_taken@2.10",
        payload,
    )
    listed, _ = await fetch_page(api, "/api/events", "events")
    assert listed == [
        {
            "id": created["event_id"],
            "event": "rafael.note_taken@2.10",
            "timestamp": created["timestamp"],
            "payload": payload,
        }
    ]


async def test_longest_allowed_event_name_is_accepted(api: TestClient) -> None:
    name = "a" * 46 + "@1.0"
    assert len(name) == 50
    await log(api, name)


async def test_invalid_event_or_payload_is_422_naming_the_field_and_stores_nothing(
    api: TestClient, db: DB
) -> None:
    cases: list[tuple[str, dict[str, Any]]] = [
        ("event", {"payload": {}}),
        ("event", {"event": "Draft.created@1.0", "payload": {}}),
        ("event", {"event": "draft.created", "payload": {}}),
        ("event", {"event": "draft.created@1", "payload": {}}),
        ("event", {"event": "draft..created@1.0", "payload": {}}),
        ("event", {"event": "1draft@1.0", "payload": {}}),
        ("event", {"event": "draft created@1.0", "payload": {}}),
        ("event", {"event": "a" * 47 + "@1.0", "payload": {}}),
        ("event", {"event": 12, "payload": {}}),
        ("payload", {"event": "x@1.0"}),
        ("payload", {"event": "x@1.0", "payload": []}),
        ("payload", {"event": "x@1.0", "payload": "{}"}),
        ("payload", {"event": "x@1.0", "payload": None}),
        ("payload", {"event": "x@1.0", "payload": {"k": "nul\x00"}}),
        # 64 KiB as compact UTF-8 JSON: {"k":"…"} is 8 bytes around the text, é is 2 bytes.
        ("payload", {"event": "x@1.0", "payload": {"k": "é" * ((64 * 1024 - 8) // 2 + 1)}}),
        ("extra", {"event": "x@1.0", "payload": {}, "extra": 1}),
    ]
    for field, body in cases:
        response = await api.post("/api/event/log", json=body)
        await assert_error(response, 422, "validation_error", field=field)
    assert await stored_counts(db) == dict.fromkeys(await stored_counts(db), 0)


async def test_a_payload_of_exactly_64_kib_is_accepted_and_one_byte_more_says_why(
    api: TestClient, db: DB
) -> None:
    fits = {"k": "p" * (64 * 1024 - 8)}  # {"k":"…"}: 8 bytes around the text
    await log(api, "x@1.0", fits)

    response = await api.post(
        "/api/event/log", json={"event": "x@1.0", "payload": {"k": "p" + fits["k"]}}
    )

    error = await assert_error(response, 422, "validation_error", field="payload")
    assert "65536 bytes" in error["message"], error
    async with db() as session:
        assert [event.payload for event in await session.scalars(select(Event))] == [fits]


async def test_the_services_own_events_are_cut_to_the_cap(db: DB) -> None:
    from storage.repo import events

    long_text = "é" * 40_000  # 80,000 bytes
    async with db() as session, session.begin():
        await events.append(
            session=session, event="draft.edited@1.0", payload={"old_text": long_text, "n": 1}
        )
    async with db() as session:
        (stored,) = (await session.scalars(select(Event))).all()
    assert stored.payload["n"] == 1
    assert long_text.startswith(stored.payload["old_text"].removesuffix("…"))
    assert events.payload_bytes(stored.payload) <= 64 * 1024


async def test_the_service_namespaces_are_refused_and_nothing_is_stored(
    api: TestClient, db: DB
) -> None:
    for namespace in RESERVED:
        response = await api.post(
            "/api/event/log", json={"event": f"{namespace}.forged@1.0", "payload": {}}
        )
        await assert_error(response, 422, "reserved_event_name", field="event")
    assert await stored_counts(db) == dict.fromkeys(await stored_counts(db), 0)
    # Only the namespace is reserved, not a name that merely starts like one.
    await log(api, "drafts_by_rafael.counted@1.0")
    await log(api, "citizenship@1.0")


RESERVED = [
    "draft",
    "lead",
    "citizen",
    "thread",
    "upwork",
    "delivery",
    "schedule",
    "budget",
    "system",
]


async def test_non_finite_numbers_are_refused_and_store_nothing(api: TestClient, db: DB) -> None:
    headers = {"Content-Type": "application/json"}
    for literal in ("NaN", "Infinity", "-Infinity"):
        body = '{"event": "x@1.0", "payload": {"v": ' + literal + "}}"
        response = await api.post("/api/event/log", data=body, headers=headers)
        await assert_error(response, 400, "malformed_json")
    # 1e400 is valid JSON syntax, but overflows to infinity: not storable.
    response = await api.post(
        "/api/event/log", data='{"event": "x@1.0", "payload": {"v": 1e400}}', headers=headers
    )
    await assert_error(response, 422, "validation_error", field="payload")
    assert (await stored_counts(db))["events"] == 0


async def test_list_is_newest_first_with_total_of_the_page(api: TestClient) -> None:
    ids = [await log(api, f"step.n{i}@1.0", {"i": i}) for i in range(5)]

    response = await api.get("/api/events", params={"limit": "3"})

    body = await response.json()
    assert [event["id"] for event in body["events"]] == ids[::-1][:3]
    assert body["total"] == 3
    assert body["next_cursor"] is not None
    rest = await (await api.get("/api/events", params={"cursor": body["next_cursor"]})).json()
    assert [event["id"] for event in rest["events"]] == ids[1::-1]
    assert (rest["total"], rest["next_cursor"]) == (2, None)


async def test_since_is_inclusive_and_until_exclusive(api: TestClient, db: DB) -> None:
    stamps = [T0 + timedelta(minutes=i) for i in range(5)]
    ids = await insert_events(db, *(("tick@1.0", at) for at in stamps))

    async def window(**params: str) -> list[int]:
        events, _ = await fetch_page(api, "/api/events", "events", **params)
        return [event["id"] for event in events]

    assert await window(since="2025-11-02T14:24:00Z") == ids[1:][::-1]
    assert await window(until="2025-11-02T14:24:00Z") == ids[:1]
    assert await window(since="2025-11-02T14:24:00Z", until="2025-11-02T14:26:00Z") == [
        ids[2],
        ids[1],
    ]
    # Offsets are honoured; a timestamp without one is taken as UTC.
    assert await window(since="2025-11-02T15:25:00+01:00") == [ids[4], ids[3], ids[2]]
    assert await window(since="2025-11-02T14:27:00") == [ids[4]]
    assert await window(since="2025-11-02T14:24:00.000001Z") == [ids[4], ids[3], ids[2]]
    assert await window(since="2025-11-02T14:30:00Z") == []
    assert await window(since="2025-11-02T14:26:00Z", until="2025-11-02T14:26:00Z") == []


async def test_event_filter_exact_name_and_prefix(api: TestClient, db: DB) -> None:
    names = [
        "draft.created@1.0",
        "draft.approved@1.0",
        "draft.created@1.1",
        "drafts.created@1.0",
        "lead.tracked@1.0",
        "a_b.c@1.0",
        "axb.c@1.0",
    ]
    ids = dict(zip(names, await insert_events(db, *((n, T0) for n in names)), strict=True))

    async def matching(event: str) -> set[str]:
        events, _ = await fetch_page(api, "/api/events", "events", event=event)
        return {row["event"] for row in events}

    assert await matching("draft.created@1.0") == {"draft.created@1.0"}
    assert await matching("draft.*") == {
        "draft.created@1.0",
        "draft.approved@1.0",
        "draft.created@1.1",
    }
    assert await matching("draft*") == {n for n in names if n.startswith("draft")}
    assert await matching("draft.created@*") == {"draft.created@1.0", "draft.created@1.1"}
    assert await matching("*") == set(names)
    # `_` in a prefix is a literal underscore, not LIKE's any-one-character.
    assert await matching("a_*") == {"a_b.c@1.0"}
    assert await matching("nothing.*") == set()
    assert await matching("lead.tracked@9.9") == set()
    assert ids  # every name was stored


async def test_bad_event_filters_are_400(api: TestClient) -> None:
    # `%` is no wildcard: a filter holding it cannot name any event and is refused.
    for event in ["%*", "draft.%", "draft.%*", "Draft.*", "draft", "*.created*", "x" * 51 + "*"]:
        response = await api.get("/api/events", params={"event": event})
        await assert_error(response, 400, "invalid_query", field="event")


async def test_bad_time_and_limit_queries_are_400(api: TestClient) -> None:
    for params, field in [
        ({"since": "yesterday"}, "since"),
        ({"until": "2025-13-01T00:00:00Z"}, "until"),
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "-5"}, "limit"),
        ({"page": "2"}, "page"),
    ]:
        response = await api.get("/api/events", params=params)
        await assert_error(response, 400, "invalid_query", field=field)
    for limit in ("1", "1000"):
        assert (await api.get("/api/events", params={"limit": limit})).status == 200


async def test_default_limit_is_100(api: TestClient, db: DB) -> None:
    await insert_events(db, *(("tick@1.0", T0) for _ in range(101)))
    events, cursor = await fetch_page(api, "/api/events", "events")
    assert len(events) == 100
    assert cursor is not None


async def test_filtered_pages_hold_every_event_exactly_once(api: TestClient, db: DB) -> None:
    rows = [
        ("draft.created@1.0" if i % 3 else "lead.tracked@1.0", T0 + timedelta(seconds=i // 4))
        for i in range(40)
    ]
    ids = await insert_events(db, *rows)
    wanted = [i for i, (name, at) in zip(ids, rows, strict=True) if name.startswith("draft.")]
    wanted_in_window = [
        i
        for i, (name, at) in zip(ids, rows, strict=True)
        if name.startswith("draft.")
        and T0 + timedelta(seconds=2) <= at < T0 + timedelta(seconds=8)
    ]

    for params, expected in [
        ({"event": "draft.*"}, wanted),
        (
            {"event": "draft.*", "since": "2025-11-02T14:23:02Z", "until": "2025-11-02T14:23:08Z"},
            wanted_in_window,
        ),
        ({}, ids),
    ]:
        pages = await walk_pages(api, "/api/events", "events", limit=4, **params)
        seen = [event["id"] for page in pages for event in page]
        assert seen == sorted(expected, reverse=True), params
        assert all(len(page) == 4 for page in pages[:-1])


async def test_pages_are_stable_while_new_events_arrive(api: TestClient) -> None:
    first = [await log(api, "tick@1.0") for _ in range(6)]
    page, cursor = await fetch_page(api, "/api/events", "events", limit=4)
    seen = [event["id"] for event in page]
    newer = [await log(api, "tick@1.0") for _ in range(3)]
    while cursor is not None:
        page, cursor = await fetch_page(api, "/api/events", "events", limit=4, cursor=cursor)
        seen += [event["id"] for event in page]
    assert seen == first[::-1]
    assert not set(newer) & set(seen)


async def test_payload_values_survive_the_round_trip(api: TestClient) -> None:
    payload = {
        "big": 2**64,
        "negative": -(2**63),
        "fraction": 0.1,
        "tiny": 1e-7,
        "text": 'é 😀 \\ " \u2028',
        "empty": {"list": [], "object": {}, "string": ""},
        "nested": [[[{"k": None}]]],
    }
    event_id = await log(api, "roundtrip@1.0", payload)
    [event], _ = await fetch_page(api, "/api/events", "events", event="roundtrip@1.0")
    assert (event["id"], event["payload"]) == (event_id, payload)


async def test_stored_payloads_pass_through_the_page_intact(api: TestClient) -> None:
    """The page splices each payload's stored JSON text: it must still be one valid document
    with exactly the payloads that were logged."""
    payloads = [
        {"quote": 'say "hi"', "slash": "a\\b", "lines": "1\n2\t3", "ctl": "\x01\u2028"},
        {"deep": {"x": [[[{"y": -0.5e-7}]]]}, "big": 2**62, "zero": 0.0, "none": None},
        {"html": "</script><b>&amp;", "emoji": "🧪", "empty": {}, "list": []},
    ]
    for payload in payloads:
        await log(api, "tests.passthrough@1.0", payload)

    response = await api.get("/api/events", params={"limit": "2"})
    page = EventPage.model_validate_json(await response.read())

    assert [event.payload for event in page.events] == payloads[::-1][:2]
    assert page.total == 2 and page.next_cursor is not None
    rest, _ = await fetch_page(api, "/api/events", "events", cursor=page.next_cursor)
    assert [event["payload"] for event in rest] == [payloads[0]]
