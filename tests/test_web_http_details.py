"""HTTP details of CONTRACT §3: 405 for a known path, what a bad Authorization lacks, the
document's version, and a Telegram secret header that is not UTF-8."""

from __future__ import annotations

import asyncio
import json
from importlib.metadata import version
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.settings import Settings
from tests.conftest import API_TOKEN
from tests.factories import draft_body
from web.app import create_app
from web.telegram_webhook import telegram_webhook_endpoints

TELEGRAM_SECRET = "tg-secret-0a9f3c"


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", "/api/draft/create", "POST"),
        ("DELETE", "/api/draft/create", "POST"),
        ("DELETE", "/api/drafts", "GET"),
        ("PUT", "/api/events", "GET"),
        ("PUT", "/api/leads", "GET,POST"),
        ("POST", "/api/lead/1", "GET,PATCH"),
        ("POST", "/health", "GET"),
    ],
)
async def test_a_known_path_with_another_method_is_405_in_the_error_shape(
    api: TestClient, method: str, path: str, allow: str
) -> None:
    response = await api.request(method, path)

    assert response.status == 405
    assert await response.json() == {
        "error": {
            "code": "method_not_allowed",
            "message": f"{method} is not allowed on {path}.",
        }
    }
    assert sorted(response.headers["Allow"].split(",")) == allow.split(",")


async def test_the_draft_route_still_reads_drafts_and_creates_them(api: TestClient) -> None:
    created = await api.post("/api/draft/create", json=draft_body())
    assert created.status == 201
    draft_id = (await created.json())["draft_id"]
    assert (await api.get(f"/api/draft/{draft_id}")).status == 200
    missing = await api.get("/api/draft/00000000-0000-0000-0000-000000000000")
    assert missing.status == 404


@pytest.mark.parametrize(
    ("authorization", "says"),
    [
        (API_TOKEN, "'Bearer ' prefix is missing"),
        (f"Token {API_TOKEN}", "'Bearer ' prefix is missing"),
        (f"Bearer {API_TOKEN}x", "Invalid API token."),
        ("Bearer", "Invalid API token."),
    ],
    ids=["bare-token", "other-scheme", "wrong-token", "scheme-only"],
)
async def test_a_bad_authorization_says_what_is_wrong_without_echoing_it(
    api: TestClient, authorization: str, says: str
) -> None:
    response = await api.get("/api/drafts", headers={"Authorization": authorization})

    assert response.status == 401
    error = (await response.json())["error"]
    assert error["code"] == "unauthorized"
    assert says in error["message"]
    assert API_TOKEN not in error["message"]


async def test_the_openapi_version_is_the_package_version(api: TestClient) -> None:
    document = await (await api.get("/api/openapi.json")).json()
    assert document["info"]["version"] == version("scopelock")


@pytest.fixture
async def telegram_hook(
    aiohttp_client: Any, settings: Settings, engine: AsyncEngine
) -> tuple[TestClient, list[dict[str, Any]]]:
    fed: list[dict[str, Any]] = []

    async def feed(update: dict[str, Any]) -> bool:
        fed.append(update)
        return True

    endpoints = telegram_webhook_endpoints(TELEGRAM_SECRET, feed)
    client = await aiohttp_client(create_app(settings, engine, extra_endpoints=endpoints))
    return client, fed


async def raw_post(client: TestClient, path: str, header: bytes, body: bytes) -> tuple[int, Any]:
    """POST with a header value sent as raw bytes (aiohttp's client would encode it)."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(
        b"POST " + path.encode() + b" HTTP/1.1\r\nHost: test\r\nConnection: close\r\n"
        b"Content-Type: application/json\r\n"
        b"X-Telegram-Bot-Api-Secret-Token: " + header + b"\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    await writer.drain()
    answer = await reader.read()
    writer.close()
    await writer.wait_closed()
    head, _, payload = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(payload)


@pytest.mark.parametrize(
    "header",
    [b"\xff\xfe" + TELEGRAM_SECRET.encode(), TELEGRAM_SECRET.encode() + b"\xc3", b"\xe9t\xe9"],
)
async def test_a_telegram_secret_header_that_is_not_utf8_is_401(
    telegram_hook: tuple[TestClient, list[dict[str, Any]]], header: bytes
) -> None:
    client, fed = telegram_hook
    status, answer = await raw_post(client, "/webhook/telegram", header, b'{"update_id": 1}')

    assert status == 401
    assert answer["error"]["code"] == "unauthorized"
    assert fed == []


async def test_the_right_telegram_secret_is_fed(
    telegram_hook: tuple[TestClient, list[dict[str, Any]]],
) -> None:
    client, fed = telegram_hook
    status, _ = await raw_post(
        client, "/webhook/telegram", TELEGRAM_SECRET.encode(), b'{"update_id": 1}'
    )
    assert status == 200
    assert fed == [{"update_id": 1}]
