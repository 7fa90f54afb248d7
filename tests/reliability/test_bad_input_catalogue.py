"""Every bad input of the catalogue gets its status and error code, and changes nothing.

"Nothing" is checked on every table of the schema (every row, every column) and on the session
runner, which must not be woken: a refused request stores nothing and launches nothing.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import SQLModel

from storage.engine import create_engine, session_factory
from storage.migrate import upgrade_to_head
from tests.citizens_support import make_citizens_dir
from tests.conftest import API_TOKEN, settings_for
from tests.databases import PostgresDatabases
from tests.reliability.bad_inputs import (
    CASES,
    JSON,
    SEEN_DELIVERY_ID,
    SEEN_IDEMPOTENCY_KEY,
    SEEN_REPLY,
    UPWORK,
    WEBHOOK_SECRET,
    BadInput,
    draft,
    lead,
    signed,
    standard,
)
from web.app import create_app
from web.keys import RUNNER
from web.webhooks import ENDPOINTS as WEBHOOK_ENDPOINTS

pytestmark = [pytest.mark.reliability, pytest.mark.asyncio(loop_scope="module")]

Db = async_sessionmaker[AsyncSession]
SECRETS = (API_TOKEN, WEBHOOK_SECRET)


@dataclass
class CountingWaker:
    """Stands in for the session runner: counts how often a request wanted a session run."""

    wakes: int = 0

    def wake(self) -> None:
        self.wakes += 1


def forged_cursor(listing: str, key: list[Any]) -> str:
    """A cursor in the listings' own encoding, with a key no listing would issue."""
    raw = json.dumps({"l": listing, "k": key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@dataclass
class Service:
    client: TestClient
    waker: CountingWaker
    db: Db
    placeholders: dict[str, str]


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=["sqlite", "postgresql"])
async def service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Service]:
    """One seeded service per backend for the whole catalogue.

    Sharing is sound because each case compares the database before and after itself: a case
    that wrongly wrote something fails on its own, whatever ran before it.
    """
    home = tmp_path_factory.mktemp("catalogue")
    url = f"sqlite+aiosqlite:///{home / 'scopelock.db'}"
    if request.param == "postgresql":
        databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
        url = databases.new_database()
    citizens_dir = make_citizens_dir(home)
    settings = settings_for(url, citizens_dir, webhook_secret=WEBHOOK_SECRET)
    engine = create_engine(settings.database_url)
    await upgrade_to_head(engine)
    app = create_app(settings, engine, extra_endpoints=WEBHOOK_ENDPOINTS)
    waker = CountingWaker()
    app[RUNNER] = waker
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        placeholders = await seed(client)
        yield Service(client, waker, session_factory(engine), placeholders)
    finally:
        await client.close()
        await engine.dispose()
        if request.param == "postgresql":
            databases.drop(url)


async def seed(client: TestClient) -> dict[str, str]:
    """The rows and deliveries some cases refer to; returns the path placeholders."""
    auth = {"Authorization": f"Bearer {API_TOKEN}"}

    async def ok(method: str, path: str, body: bytes, headers: dict[str, str]) -> Any:
        response = await client.request(method, path, data=body, headers=headers)
        assert response.status < 300, await response.text()
        return await response.json()

    key = {**auth, **JSON, "Idempotency-Key": SEEN_IDEMPOTENCY_KEY}
    await ok("POST", "/api/draft/create", draft(), key)
    sent = await ok("POST", "/api/leads", lead(), {**auth, **JSON})
    await ok("PATCH", f"/api/lead/{sent['lead_id']}", b'{"sent": true}', {**auth, **JSON})
    await ok("POST", "/api/leads", lead(decision="NO-GO"), {**auth, **JSON})
    page = await ok("GET", "/api/leads?limit=1", b"", auth)
    first = b'{"client": "Ann", "message": "First delivery."}'
    await ok("POST", UPWORK, first, standard(SEEN_DELIVERY_ID)(first))
    await ok("POST", UPWORK, SEEN_REPLY, signed()(SEEN_REPLY))
    assert page["next_cursor"] is not None
    return {
        "sent_lead": str(sent["lead_id"]),
        "leads_cursor": page["next_cursor"],
        "huge_id_cursor": forged_cursor("events", [2**64]),
        "negative_id_cursor": forged_cursor("events", [-5]),
        "early_time_cursor": forged_cursor("drafts", ["0001-01-01T00:00:00+01:00", "x"]),
    }


async def snapshot(db: Db) -> dict[str, list[str]]:
    """Every row of every table, as text: equal snapshots mean nothing was written."""
    tables: dict[str, list[str]] = {}
    async with db() as session:
        for table in SQLModel.metadata.sorted_tables:
            rows = (await session.execute(select(table))).all()
            tables[table.name] = sorted(repr(tuple(row)) for row in rows)
    return tables


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_bad_input_is_refused_and_changes_nothing(
    case: BadInput, service: Service, figures: Counter[str]
) -> None:
    client, waker, db = service.client, service.waker, service.db
    wakes_before = waker.wakes
    before = await snapshot(db)

    body = case.body if case.body is not None else b""
    headers = case.headers(body) if callable(case.headers) else dict(case.headers)
    if case.auth and case.path.startswith("/api/"):
        headers.setdefault("Authorization", f"Bearer {API_TOKEN}")
    # The client would add these; a case without them must reach the server without them.
    skip = {"Content-Type"} if "Content-Type" not in headers else set()
    response = await client.request(
        case.method,
        case.path.format(**service.placeholders),
        data=body,
        headers=headers,
        skip_auto_headers=skip,
    )
    text = await response.text()

    assert response.status == case.status, text
    document = json.loads(text)
    if case.code is None:
        assert document == {"accepted": False, "duplicate": True}
    else:
        assert set(document) == {"error"}, document
        assert document["error"]["code"] == case.code, document
        assert isinstance(document["error"]["message"], str) and document["error"]["message"]
    assert not any(secret in text for secret in SECRETS)
    assert await snapshot(db) == before, "a refused request changed the database"
    assert waker.wakes == wakes_before, "a refused request woke the session runner"
    figures["bad inputs tried (both backends)"] += 1


HOSTILE_TEXT = {
    "client": "Robert'); DROP TABLE drafts; --",
    "job_title": '<script>alert("x")</script> & <b>bold</b>',
    "message": "' OR '1'='1' -- \\x00 is written out, not sent",
    "draft_text": "${API_TOKEN} $(id) `id` %s %n {0} \u202e",
}


async def test_sql_and_html_looking_text_is_stored_verbatim(service: Service) -> None:
    """Valid text that looks like SQL or HTML is data: stored as sent, nothing else happens."""
    auth = {"Authorization": f"Bearer {API_TOKEN}", **JSON}
    created = await service.client.post(
        "/api/draft/create", data=draft(**HOSTILE_TEXT), headers=auth
    )
    assert created.status == 201, await created.text()
    draft_id = (await created.json())["draft_id"]
    stored = await (await service.client.get(f"/api/draft/{draft_id}", headers=auth)).json()
    assert {name: stored[name] for name in HOSTILE_TEXT} == HOSTILE_TEXT
    listing = await service.client.get("/api/drafts?limit=200", headers=auth)
    assert listing.status == 200
    assert draft_id in {row["id"] for row in (await listing.json())["drafts"]}
