"""Who may call `/app/api/*` (CONTRACT §12): Telegram's initData, checked as documented, from
an allowed user; and the pages' security headers."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.settings import Settings
from tests.conftest import TELEGRAM_TOKEN
from tests.factories import draft_body, event_names
from tests.miniapp_support import ALLOWED_ID, HEADER, headers, init_data
from tests.telegram_updates import OPERATOR_ID, STRANGER_ID
from web.app import create_app
from web.miniapp.init_data import InvalidInitData, validate

GROUP_ID = -100123


def tampered(raw: str, **changes: str) -> str:
    fields = dict(parse_qsl(raw))
    fields.update(changes)
    return urlencode(fields)


async def client_for(aiohttp_client: Any, settings: Settings, engine: AsyncEngine) -> TestClient:
    return await aiohttp_client(create_app(settings, engine))  # type: ignore[no-any-return]


@pytest.fixture
async def app_client(
    aiohttp_client: Any, make_settings: Callable[..., Settings], engine: AsyncEngine
) -> TestClient:
    settings = make_settings(
        telegram_bot_token=TELEGRAM_TOKEN,
        telegram_chat_id=OPERATOR_ID,
        telegram_allowed_user_ids=str(ALLOWED_ID),
    )
    return await client_for(aiohttp_client, settings, engine)


# --- the check itself ---


def test_valid_init_data_names_its_user() -> None:
    user = validate(init_data(OPERATOR_ID), bot_token=TELEGRAM_TOKEN, now=time.time())
    assert (user.id, user.name) == (OPERATOR_ID, "Nicolas")


def test_every_field_but_hash_is_signed() -> None:
    # Telegram adds fields over time (`signature`, `chat_instance`): they are signed too.
    raw = init_data(OPERATOR_ID, signature="abc", chat_instance="-42")
    assert validate(raw, bot_token=TELEGRAM_TOKEN, now=time.time()).id == OPERATOR_ID
    with pytest.raises(InvalidInitData):
        validate(tampered(raw, chat_instance="-43"), bot_token=TELEGRAM_TOKEN, now=time.time())


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(
            tampered(init_data(OPERATOR_ID), user='{"id":1,"first_name":"Eve"}'), id="user"
        ),
        pytest.param(
            tampered(init_data(OPERATOR_ID), auth_date=str(int(time.time()) + 1)), id="date"
        ),
        pytest.param(tampered(init_data(OPERATOR_ID), hash="0" * 64), id="hash"),
        pytest.param(init_data(OPERATOR_ID, token="123:another-bot"), id="other-bot"),
        pytest.param(init_data(OPERATOR_ID, age_s=24 * 3600 + 60), id="expired"),
        pytest.param(init_data(OPERATOR_ID, age_s=-3600), id="future"),
        pytest.param(init_data(OPERATOR_ID) + "&user=x", id="repeated"),
        pytest.param("user=%7B%22id%22%3A1%7D&auth_date=1", id="unsigned"),
        pytest.param("", id="empty"),
    ],
)
def test_forged_or_stale_init_data_is_refused(raw: str) -> None:
    with pytest.raises(InvalidInitData):
        validate(raw, bot_token=TELEGRAM_TOKEN, now=time.time())


# --- the API's answers ---


async def assert_refused(response: Any, status: int, code: str) -> None:
    assert response.status == status, await response.text()
    body = await response.json()
    assert body["error"]["code"] == code
    assert body["error"]["message"]


async def test_the_operator_and_allowed_users_get_in(app_client: TestClient) -> None:
    for user_id in (OPERATOR_ID, ALLOWED_ID):
        response = await app_client.get("/app/api/drafts", headers=headers(user_id))
        assert response.status == 200, await response.text()
        assert (await response.json())["drafts"] == []


@pytest.mark.parametrize(
    ("make_headers", "code"),
    [
        (lambda: {}, "unauthorized"),
        (lambda: {HEADER: tampered(init_data(OPERATOR_ID), first_name="x")}, "unauthorized"),
        (
            lambda: {HEADER: tampered(init_data(STRANGER_ID), user=f'{{"id":{OPERATOR_ID}}}')},
            "unauthorized",
        ),
        (lambda: headers(OPERATOR_ID, age_s=25 * 3600), "unauthorized"),
        (lambda: headers(OPERATOR_ID, token="999:not-our-bot"), "unauthorized"),
    ],
    ids=["missing", "tampered", "impersonation", "expired", "other-bot"],
)
async def test_missing_invalid_or_expired_init_data_is_401(
    app_client: TestClient, make_headers: Callable[[], dict[str, str]], code: str
) -> None:
    for method, path in [("GET", "/app/api/drafts"), ("GET", "/app/api/draft/x")]:
        response = await app_client.request(method, path, headers=make_headers())
        await assert_refused(response, 401, code)


async def test_a_stranger_is_403_and_changes_nothing(
    app_client: TestClient, api: TestClient, db: Any
) -> None:
    draft_id = (await (await api.post("/api/draft/create", json=draft_body())).json())["draft_id"]
    before = await event_names(db)

    listing = await app_client.get("/app/api/drafts", headers=headers(STRANGER_ID))
    action = await app_client.post(
        f"/app/api/draft/{draft_id}", json={"action": "approve"}, headers=headers(STRANGER_ID)
    )

    await assert_refused(listing, 403, "forbidden")
    await assert_refused(action, 403, "forbidden")
    assert (await (await api.get(f"/api/draft/{draft_id}")).json())["status"] == "pending"
    assert await event_names(db) == before


async def test_group_members_cannot_act_through_the_mini_app(
    aiohttp_client: Any, make_settings: Callable[..., Settings], engine: AsyncEngine
) -> None:
    # In the operators' group anyone may tap; the Mini App knows no group, only named users.
    settings = make_settings(telegram_bot_token=TELEGRAM_TOKEN, telegram_chat_id=GROUP_ID)
    client = await client_for(aiohttp_client, settings, engine)
    await assert_refused(
        await client.get("/app/api/drafts", headers=headers(OPERATOR_ID)), 403, "forbidden"
    )


async def test_with_telegram_off_the_page_answers_and_the_api_says_why(
    aiohttp_client: Any, settings: Settings, engine: AsyncEngine
) -> None:
    client = await client_for(aiohttp_client, settings, engine)
    page = await client.get("/app")
    assert page.status == 200
    await assert_refused(
        await client.get("/app/api/drafts", headers=headers()), 503, "telegram_disabled"
    )


# --- pages and headers ---


async def test_the_pages_are_served_with_a_strict_policy(app_client: TestClient) -> None:
    page = await app_client.get("/app")
    html = await page.text()
    assert page.status == 200 and page.content_type == "text/html"
    assert '<script src="https://telegram.org/js/telegram-web-app.js"></script>' in html
    policy = dict(
        part.strip().split(" ", 1) for part in page.headers["Content-Security-Policy"].split(";")
    )
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self' https://telegram.org"
    assert policy["connect-src"] == "'self'"
    assert policy["style-src"] == "'self'"
    assert "unsafe" not in page.headers["Content-Security-Policy"]
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    for name in ("app.js", "app.css", "drafts.js", "editor.js", "thread.js", "stats.js"):
        assert f"/app/static/{name}" in html
        static = await app_client.get(f"/app/static/{name}")
        assert static.status == 200, name
        assert "Content-Security-Policy" in static.headers
    missing = await app_client.get("/app/static/secrets.py")
    assert missing.status == 404
    assert (await missing.json())["error"]["code"] == "not_found"


async def test_api_answers_are_not_cached(app_client: TestClient) -> None:
    for given in ({}, headers()):
        response = await app_client.get("/app/api/drafts", headers=given)
        assert response.headers["Cache-Control"] == "no-store"
        assert "Content-Security-Policy" in response.headers
