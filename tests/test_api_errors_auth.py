"""Bearer auth and the error shape of every failure the HTTP layer answers (CONTRACT §3)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.settings import Settings
from tests.citizens_support import make_citizens_dir
from tests.conftest import API_TOKEN
from tests.factories import database_route_requests, draft_body, stored_counts
from tests.paging import assert_error
from web.app import create_app

DB = async_sessionmaker[AsyncSession]
MIB = 1024 * 1024
JSON = {"Content-Type": "application/json"}

# Every authenticated route, with a request that would succeed given the token.
AUTHENTICATED = [*database_route_requests(), ("GET", "/api/openapi.json", None)]


async def test_every_api_route_refuses_missing_or_wrong_token_and_stores_nothing(
    aiohttp_client: Any, settings: Settings, engine: AsyncEngine, db: DB
) -> None:
    client: TestClient = await aiohttp_client(create_app(settings, engine))
    wrong = [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": API_TOKEN},
        {"Authorization": f"Basic {API_TOKEN}"},
        {"Authorization": f"Bearer {API_TOKEN}x"},
        {"Authorization": f"Bearer {API_TOKEN[:-1]}"},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer\u00e9 " + API_TOKEN},
        {"Authorization": "Bearer " + API_TOKEN + "\u00e9"},
    ]
    for method, path, body in AUTHENTICATED:
        for headers in wrong:
            response = await client.request(method, path, json=body, headers=headers)
            error = await assert_error(response, 401, "unauthorized")
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
            assert API_TOKEN not in json.dumps(error)
    assert await stored_counts(db) == dict.fromkeys(await stored_counts(db), 0)


# What each authenticated route answers, in this order on an empty database, once the token is
# accepted: the exact status, and for a 404 the route's own error code (the auth middleware
# answers 401 before any route could say "not found").
AUTHORIZED_ANSWERS = [
    ("POST", "/api/draft/create", 201, None),
    ("GET", "/api/draft/00000000-0000-0000-0000-000000000000", 404, "draft_not_found"),
    ("GET", "/api/drafts", 200, None),
    ("POST", "/api/event/log", 201, None),
    ("GET", "/api/events", 200, None),
    ("POST", "/api/leads", 201, None),
    ("GET", "/api/leads", 200, None),
    ("GET", "/api/lead/1", 200, None),
    ("PATCH", "/api/lead/1", 200, None),
    ("GET", "/api/sessions", 200, None),
    ("GET", "/api/session/00000000-0000-0000-0000-000000000000", 404, "session_not_found"),
    ("POST", "/api/notes", 201, None),
    ("GET", "/api/notes", 200, None),
    ("GET", "/api/threads", 200, None),
    ("GET", "/api/thread/00000000-0000-0000-0000-000000000000", 404, "thread_not_found"),
    ("POST", "/api/schedules", 201, None),
    ("GET", "/api/schedules", 200, None),
    ("DELETE", "/api/schedule/1", 204, None),
    ("GET", "/api/stats", 200, None),
    ("GET", "/api/openapi.json", 200, None),
]


async def test_the_right_token_is_accepted_everywhere(
    api: TestClient, db: DB, settings: Settings
) -> None:
    make_citizens_dir(settings.citizens_dir.parent)  # a schedule needs a known citizen
    assert [(m, p) for m, p, _, _ in AUTHORIZED_ANSWERS] == [(m, p) for m, p, _ in AUTHENTICATED]
    for (method, path, body), (_, _, status, code) in zip(
        AUTHENTICATED, AUTHORIZED_ANSWERS, strict=True
    ):
        response = await api.request(method, path, json=body)
        if code is None:
            assert response.status == status, (method, path, await response.text())
        else:
            await assert_error(response, status, code)
    # The writes took effect: the token let them through to the database.
    assert await stored_counts(db) == {
        "drafts": 1,
        "events": 4,  # draft.created, the logged event, lead.tracked, lead.sent
        "leads": 1,
        "idempotency_keys": 0,
        "notes": 1,
        "schedules": 0,  # added, then deleted
    }


async def test_the_scheme_is_case_insensitive(
    aiohttp_client: Any, settings: Settings, engine: AsyncEngine
) -> None:
    client: TestClient = await aiohttp_client(create_app(settings, engine))
    for scheme in ("Bearer", "bearer", "BEARER"):
        response = await client.get(
            "/api/drafts", headers={"Authorization": f"{scheme} {API_TOKEN}"}
        )
        assert response.status == 200, scheme


async def test_health_needs_no_token(
    aiohttp_client: Any, settings: Settings, engine: AsyncEngine
) -> None:
    client: TestClient = await aiohttp_client(create_app(settings, engine))
    response = await client.get("/health")
    assert response.status == 200
    assert await response.json() == {
        "status": "ok",
        "database": "ok",
        "telegram": "disabled",
        "workers": 0,
        "sessions_queued": 0,
    }


async def test_without_api_token_the_api_is_open(
    aiohttp_client: Any, make_settings: Callable[..., Settings], engine: AsyncEngine
) -> None:
    client: TestClient = await aiohttp_client(create_app(make_settings(api_token=None), engine))
    response = await client.post("/api/draft/create", json=draft_body())
    assert response.status == 201
    assert (await client.get("/api/drafts")).status == 200
    # A token sent anyway changes nothing.
    response = await client.get("/api/drafts", headers={"Authorization": "Bearer whatever"})
    assert response.status == 200


async def test_unknown_path_is_404_and_wrong_method_405(api: TestClient) -> None:
    for path in ["/api/nope", "/api/drafts/extra", "/api/draft", "/nothing", "/api/lead/"]:
        response = await api.get(path)
        await assert_error(response, 404, "not_found")
    for method, path in [
        ("DELETE", "/api/drafts"),
        ("PUT", "/api/lead/1"),
        ("GET", "/api/draft/create"),
        ("POST", "/api/events"),
        ("POST", "/health"),
    ]:
        response = await api.request(method, path)
        # GET /api/draft/create is the known path's wrong method, not the draft "create".
        await assert_error(response, 405, "method_not_allowed")
        assert response.headers.get("Allow"), (method, path)


async def test_body_over_one_mib_is_413_and_stores_nothing(api: TestClient, db: DB) -> None:
    oversized = json.dumps(draft_body(draft_text="x" * MIB)).encode()
    assert len(oversized) > MIB
    for path in ("/api/draft/create", "/api/event/log", "/api/leads"):
        response = await api.post(path, data=oversized, headers=JSON)
        await assert_error(response, 413, "payload_too_large")
    response = await api.patch("/api/lead/1", data=oversized, headers=JSON)
    await assert_error(response, 413, "payload_too_large")

    async def chunks() -> AsyncIterator[bytes]:
        """The same body without a Content-Length: the limit holds while it streams in."""
        for start in range(0, len(oversized), 64 * 1024):
            yield oversized[start : start + 64 * 1024]

    response = await api.post("/api/draft/create", data=chunks(), headers=JSON)
    await assert_error(response, 413, "payload_too_large")
    assert await stored_counts(db) == dict.fromkeys(await stored_counts(db), 0)


async def test_body_of_exactly_one_mib_is_accepted(api: TestClient) -> None:
    body = draft_body(context={"notes": ""})
    room = MIB - len(json.dumps(body).encode())
    body["context"] = {"notes": "y" * room}  # the one field without a length cap
    raw = json.dumps(body).encode()
    assert len(raw) == MIB

    response = await api.post("/api/draft/create", data=raw, headers=JSON)

    assert response.status == 201, await response.text()
    draft_id = (await response.json())["draft_id"]
    stored = await (await api.get(f"/api/draft/{draft_id}")).json()
    assert len(stored["context"]["notes"]) == room


async def test_body_that_is_not_json_is_415_and_stores_nothing(api: TestClient, db: DB) -> None:
    raw = json.dumps(draft_body())
    for headers in [
        {"Content-Type": "text/plain"},
        {"Content-Type": "application/x-www-form-urlencoded"},
        {"Content-Type": "multipart/form-data; boundary=x"},
        {"Content-Type": "application/jsonx"},
        {},
    ]:
        response = await api.post("/api/draft/create", data=raw.encode(), headers=headers)
        await assert_error(response, 415, "unsupported_media_type")
    response = await api.patch("/api/lead/1", data=b'{"sent": true}')
    await assert_error(response, 415, "unsupported_media_type")
    assert await stored_counts(db) == dict.fromkeys(await stored_counts(db), 0)


async def test_json_with_charset_is_accepted(api: TestClient) -> None:
    response = await api.post(
        "/api/draft/create",
        data=json.dumps(draft_body(client="Zoë")).encode(),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status == 201


async def test_malformed_body_is_400_and_stores_nothing(api: TestClient, db: DB) -> None:
    for raw in [
        b"",
        b"{",
        b'{"client": "a",}',
        b"{'client': 'a'}",
        b'{"client": "\xff\xfe"}',  # not UTF-8
        b'{"client": "\xed\xa0\x80"}',  # an encoded surrogate is not UTF-8 either
        b'{"client": "a\x00"}',  # a raw control character inside a JSON string
        b'{"confidence": NaN}',
        b"\xef\xbb\xbf{}",  # a byte-order mark is not JSON
    ]:
        for path in ("/api/draft/create", "/api/event/log", "/api/leads"):
            response = await api.post(path, data=raw, headers=JSON)
            await assert_error(response, 400, "malformed_json")
    assert await stored_counts(db) == dict.fromkeys(await stored_counts(db), 0)


async def test_body_that_is_not_an_object_is_422(api: TestClient, db: DB) -> None:
    for raw in [b"[]", b"null", b"42", b'"text"', b"[" * 10 + b"]" * 10]:
        response = await api.post("/api/draft/create", data=raw, headers=JSON)
        await assert_error(response, 422, "validation_error")
    assert (await stored_counts(db))["drafts"] == 0


async def test_deeply_nested_body_is_refused_without_a_server_error(
    api: TestClient, db: DB
) -> None:
    for depth in (40, 5000, 200_000):
        context = "[" * depth + "]" * depth
        raw = ('{"client":"c","job_title":"j","message":"m","draft_text":"d","confidence":1,'
               f'"context":{{"k":{context}}}}}').encode()  # fmt: skip
        response = await api.post("/api/draft/create", data=raw, headers=JSON)
        error = await assert_error(response, 422, "validation_error")
        if depth == 40:  # parsed, then refused by the depth limit of the stored documents
            assert error["message"] == "context: must not be nested more than 32 levels deep."
        else:  # deeper than the JSON parser goes
            assert error["message"] == "The body is nested too deeply."
    assert (await stored_counts(db))["drafts"] == 0


async def test_unstorable_text_is_422_naming_the_field(api: TestClient, db: DB) -> None:
    for field, value in [
        ("client", "a\\u0000b"),
        ("draft_text", "\\ud800"),
        ("message", "\\udfff"),
    ]:
        body = json.dumps(draft_body(**{field: "PLACEHOLDER"})).replace("PLACEHOLDER", value)
        response = await api.post("/api/draft/create", data=body.encode(), headers=JSON)
        await assert_error(response, 422, "validation_error", field=field)
    payload = '{"event": "x@1.0", "payload": {"k\\u0000": 1}}'
    response = await api.post("/api/event/log", data=payload.encode(), headers=JSON)
    await assert_error(response, 422, "validation_error", field="payload")
    assert await stored_counts(db) == dict.fromkeys(await stored_counts(db), 0)


async def test_a_valid_surrogate_pair_is_stored_as_its_character(api: TestClient) -> None:
    body = json.dumps(draft_body(client="PLACEHOLDER")).replace("PLACEHOLDER", "\\ud83d\\ude00")
    response = await api.post("/api/draft/create", data=body.encode(), headers=JSON)
    assert response.status == 201, await response.text()
    draft_id = (await response.json())["draft_id"]
    assert (await (await api.get(f"/api/draft/{draft_id}")).json())["client"] == "😀"


async def test_validation_error_says_which_field_and_why(api: TestClient) -> None:
    response = await api.post(
        "/api/draft/create", json=draft_body(confidence="85", client="", extra=1)
    )

    error = await assert_error(response, 422, "validation_error")
    details = {detail["field"]: detail["message"] for detail in error["details"]}
    assert set(details) == {"confidence", "client", "extra"}
    assert "integer" in details["confidence"]
    assert "character" in details["client"] or "blank" in details["client"]
    assert "extra" in details["extra"].lower() or "not permitted" in details["extra"]


async def test_query_errors_are_400(api: TestClient) -> None:
    response = await api.get("/api/drafts?limit=5&limit=6")
    await assert_error(response, 400, "invalid_query")
    response = await api.get("/api/events?since=2025-11-02T14:23:00%2B01:00&since=x")
    await assert_error(response, 400, "invalid_query")
    response = await api.get("/api/leads?sent=%FF")
    await assert_error(response, 400, "invalid_query", field="sent")
    # Neither database can compare a NUL: it is refused before it reaches one.
    response = await api.get("/api/leads?platform=a%00b")
    await assert_error(response, 400, "invalid_query", field="platform")
    response = await api.get("/api/sessions?citizen=a%00b")
    await assert_error(response, 400, "invalid_query", field="citizen")
    # Bytes that are not UTF-8 decode to U+FFFD, which matches nothing.
    response = await api.get("/api/leads?platform=%FF")
    assert (response.status, (await response.json())["leads"]) == (200, [])
