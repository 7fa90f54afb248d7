"""`GET /api/openapi.json` against independent expectations: CONTRACT §3 and §4 written out by
hand (routes, methods, auth, success statuses, query parameters), and the service's real
answers validated against the document it publishes.
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.settings import Settings
from tests.conftest import API_TOKEN
from tests.factories import draft_body, insert_sessions, lead_body
from web.app import create_app
from web.telegram_webhook import telegram_webhook_endpoints
from web.webhooks import ENDPOINTS as WEBHOOK_ENDPOINTS

Db = async_sessionmaker[AsyncSession]

# CONTRACT §3 and §4, route by route: (method, path) -> (security scheme, success statuses).
CONTRACT: dict[tuple[str, str], tuple[str | None, set[str]]] = {
    ("get", "/health"): (None, {"200"}),
    ("post", "/api/draft/create"): ("bearer", {"201"}),
    ("get", "/api/draft/{draft_id}"): ("bearer", {"200"}),
    ("get", "/api/drafts"): ("bearer", {"200"}),
    ("post", "/api/event/log"): ("bearer", {"201"}),
    ("get", "/api/events"): ("bearer", {"200"}),
    ("post", "/api/leads"): ("bearer", {"201", "200"}),
    ("get", "/api/leads"): ("bearer", {"200"}),
    ("get", "/api/lead/{lead_id}"): ("bearer", {"200"}),
    ("patch", "/api/lead/{lead_id}"): ("bearer", {"200"}),
    ("get", "/api/sessions"): ("bearer", {"200"}),
    ("get", "/api/session/{session_id}"): ("bearer", {"200"}),
    ("get", "/api/threads"): ("bearer", {"200"}),
    ("get", "/api/thread/{thread_id}"): ("bearer", {"200"}),
    # CONTRACT §8: the citizens' shared notes behind `read_notes` / `write_note`.
    ("get", "/api/notes"): ("bearer", {"200"}),
    ("post", "/api/notes"): ("bearer", {"201"}),
    # CONTRACT §10: schedules and stats.
    ("get", "/api/schedules"): ("bearer", {"200"}),
    ("post", "/api/schedules"): ("bearer", {"201"}),
    ("delete", "/api/schedule/{schedule_id}"): ("bearer", {"204"}),
    ("get", "/api/stats"): ("bearer", {"200"}),
    ("get", "/api/openapi.json"): ("bearer", {"200"}),
    ("post", "/webhook/upwork-response"): ("webhook_hmac", {"202", "200"}),
    ("post", "/webhook/trigger/{citizen}"): ("webhook_hmac", {"202", "200"}),
    ("post", "/webhook/telegram"): ("telegram_secret", {"200"}),
    ("post", "/webhook/telegram-callback"): ("telegram_secret", {"200"}),
}
WITH_BODY = {
    ("post", "/api/draft/create"),
    ("post", "/api/event/log"),
    ("post", "/api/leads"),
    ("patch", "/api/lead/{lead_id}"),
    ("post", "/api/notes"),
    ("post", "/api/schedules"),
    ("post", "/webhook/upwork-response"),
    ("post", "/webhook/trigger/{citizen}"),
}
# The query parameters of the listings, and (minimum, maximum, default) of their `limit`.
QUERIES = {
    "/api/drafts": {"status", "thread_id", "client", "limit", "cursor"},
    "/api/events": {"since", "until", "event", "limit", "cursor"},
    "/api/leads": {"decision", "platform", "sent", "link", "limit", "cursor"},
    "/api/sessions": {"citizen", "status", "thread_id", "limit", "cursor"},
    "/api/threads": {"client", "waiting", "limit", "cursor"},
    "/api/notes": {"limit", "cursor"},
    "/api/stats": {"days"},
}
LIMITS = {
    "/api/drafts": (1, 200, 50),
    "/api/events": (1, 1000, 100),
    "/api/leads": (1, 200, 50),
    "/api/sessions": (1, 200, 50),
    "/api/threads": (1, 200, 50),
    "/api/notes": (1, 200, 50),
}


@pytest.fixture
async def service(aiohttp_client: Any, make_settings: Any, engine: AsyncEngine) -> TestClient:
    """The web app with every route the service serves, the bearer token on every request."""

    async def feed(update: dict[str, Any]) -> bool:
        return True

    settings: Settings = make_settings(webhook_secret="whsec-openapi-0c4d2e")
    extra = [*WEBHOOK_ENDPOINTS, *telegram_webhook_endpoints("tg-secret", feed)]
    client: TestClient = await aiohttp_client(create_app(settings, engine, extra_endpoints=extra))
    client.session.headers["Authorization"] = f"Bearer {API_TOKEN}"
    return client


@pytest.fixture
async def document(service: TestClient) -> dict[str, Any]:
    response = await service.get("/api/openapi.json")
    assert response.status == 200
    assert response.content_type == "application/json"
    return await response.json()


def operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method, path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }


def test_the_document_is_valid_openapi_3_1_with_the_package_version(
    document: dict[str, Any],
) -> None:
    validate(document)
    assert document["openapi"] == "3.1.0"
    assert document["info"]["version"] == version("scopelock")
    ids = [operation["operationId"] for operation in operations(document).values()]
    assert len(ids) == len(set(ids)), sorted(ids)


def test_it_describes_exactly_the_contracts_routes(document: dict[str, Any]) -> None:
    assert set(operations(document)) == set(CONTRACT)


def test_it_describes_exactly_the_routes_the_server_serves(
    service: TestClient, document: dict[str, Any]
) -> None:
    app: web.Application = service.app  # type: ignore[assignment]  # the test server's app
    served = {
        (route.method.lower(), route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None
        and route.method != "*"  # the 405 answers
        # The Mini App's routes (/app, /app/api/*) belong to its page, with their own auth
        # (Telegram's initData, CONTRACT §12): they are not part of the public API document.
        and not route.resource.canonical.startswith("/app")
    }
    assert served == set(operations(document))


def test_auth_success_statuses_and_bodies_are_the_contracts(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearer"]["type"] == "http" and schemes["bearer"]["scheme"] == "bearer"
    assert schemes["webhook_hmac"] | {"description": ""} == {
        "type": "apiKey",
        "in": "header",
        "name": "X-Webhook-Signature",
        "description": "",
    }
    assert "webhook-signature" in schemes["webhook_hmac"]["description"]
    assert schemes["telegram_secret"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-Telegram-Bot-Api-Secret-Token",
    }
    for key, operation in operations(document).items():
        security, success = CONTRACT[key]
        if security is None:
            assert "security" not in operation, key
        else:
            assert operation["security"] == [{security: []}], key
            assert "401" in operation["responses"], key
        documented = {status for status in operation["responses"] if status < "400"}
        assert documented == success, key
        assert ("requestBody" in operation) == (key in WITH_BODY), key


def test_the_listings_document_their_query_parameters(document: dict[str, Any]) -> None:
    ops = operations(document)
    for path, names in QUERIES.items():
        parameters = {p["name"]: p for p in ops[("get", path)]["parameters"] if p["in"] == "query"}
        assert set(parameters) == names, path
        assert all(p["required"] is False for p in parameters.values())
        if path not in LIMITS:
            continue
        limit = parameters["limit"]["schema"]
        low, high, default = LIMITS[path]
        assert (limit["minimum"], limit["maximum"], limit["default"]) == (low, high, default)


def _validator(document: dict[str, Any], schema: dict[str, Any]) -> OAS31Validator:
    return OAS31Validator({**schema, "components": document["components"]})


def _request_schema(document: dict[str, Any], method: str, path: str) -> OAS31Validator:
    body = operations(document)[(method, path)]["requestBody"]
    return _validator(document, body["content"]["application/json"]["schema"])


def test_the_request_schemas_accept_and_refuse_what_the_contract_says(
    document: dict[str, Any],
) -> None:
    draft = _request_schema(document, "post", "/api/draft/create")
    assert draft.is_valid(draft_body())
    assert draft.is_valid(draft_body(context={"a": [1]}, citizen="emma"))
    assert draft.is_valid(draft_body(client="c" * 200, draft_text="d" * 20_000))
    for invalid in [
        draft_body(confidence="85"),
        draft_body(confidence=True),
        draft_body(confidence=101),
        draft_body(client=""),
        draft_body(client="c" * 201),
        draft_body(job_title="j" * 501),
        draft_body(message=""),
        draft_body(message="m" * 50_001),
        draft_body(draft_text="d" * 20_001),
        draft_body(extra=1),
        {key: value for key, value in draft_body().items() if key != "draft_text"},
    ]:
        assert not draft.is_valid(invalid), str(invalid)[:100]
    lead = _request_schema(document, "post", "/api/leads")
    assert lead.is_valid(lead_body(urgency=10, pain=1))
    assert not lead.is_valid(lead_body(decision="MAYBE"))
    assert not lead.is_valid(lead_body(pain=11))
    event = _request_schema(document, "post", "/api/event/log")
    assert event.is_valid({"event": "rafael.replied@1.0", "payload": {}})
    assert not event.is_valid({"event": "draft.created@1.0", "payload": {}})  # reserved
    assert not event.is_valid({"event": "Draft@1.0", "payload": {}})
    assert not event.is_valid({"event": "a" * 47 + "@1.0", "payload": {}})
    assert not event.is_valid({"event": "x@1.0", "payload": []})


async def _answer_is_documented(
    document: dict[str, Any], method: str, path: str, response: ClientResponse
) -> dict[str, Any]:
    """The response's status is documented for the route, and its body matches the schema."""
    documented = operations(document)[(method, path)]["responses"]
    status = str(response.status)
    assert status in documented, (method, path, status)
    body = await response.json()
    schema = documented[status]["content"]["application/json"]["schema"]
    errors = [e.message for e in _validator(document, schema).iter_errors(body)]
    assert not errors, (method, path, status, errors)
    return body


async def test_the_services_real_answers_match_the_document(
    service: TestClient, document: dict[str, Any], db: Db
) -> None:
    await insert_sessions(db, 2, status="completed")
    [session_id] = await insert_sessions(db, 1, status="queued")

    async def check(method: str, path: str, url: str, **kwargs: Any) -> dict[str, Any]:
        response = await service.request(method.upper(), url, **kwargs)
        return await _answer_is_documented(document, method, path, response)

    await check("get", "/health", "/health")
    created = await check("post", "/api/draft/create", "/api/draft/create", json=draft_body())
    draft_id = created["draft_id"]
    await check("get", "/api/draft/{draft_id}", f"/api/draft/{draft_id}")
    await check("get", "/api/draft/{draft_id}", "/api/draft/nope")  # 404
    await check("get", "/api/drafts", "/api/drafts?limit=1")
    await check("get", "/api/drafts", "/api/drafts?limit=0")  # 400
    await check("post", "/api/event/log", "/api/event/log", json={"event": "x@1.0", "payload": {}})
    await check("post", "/api/event/log", "/api/event/log", json={"event": "X"})  # 422
    events = await check("get", "/api/events", "/api/events")
    assert events["total"] == len(events["events"]) == 2
    lead = await check("post", "/api/leads", "/api/leads", json=lead_body(urgency=3))
    lead_path = f"/api/lead/{lead['lead_id']}"
    await check("get", "/api/lead/{lead_id}", lead_path)
    await check("patch", "/api/lead/{lead_id}", lead_path, json={"sent": True})
    await check("get", "/api/leads", "/api/leads")
    sessions = await check("get", "/api/sessions", "/api/sessions")
    assert len(sessions["sessions"]) == 3
    await check("get", "/api/session/{session_id}", f"/api/session/{session_id}")
    await check("get", "/api/drafts", "/api/drafts", headers={"Authorization": "Bearer x"})  # 401
    await check("post", "/webhook/upwork-response", "/webhook/upwork-response", json={})  # 401
