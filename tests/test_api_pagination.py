"""Opaque cursors: each listing accepts only the cursors it issued (CONTRACT §3)."""

from __future__ import annotations

import base64
import json
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.factories import draft_body, insert_sessions, lead_body
from tests.paging import assert_error, fetch_page

LISTINGS = {
    "/api/drafts": "drafts",
    "/api/events": "events",
    "/api/leads": "leads",
    "/api/sessions": "sessions",
}


def forge(document: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(document).encode()).decode().rstrip("=")


async def issued_cursors(api: TestClient, db: async_sessionmaker[AsyncSession]) -> dict[str, str]:
    """A genuine second-page cursor from every listing."""
    for _ in range(2):
        assert (await api.post("/api/draft/create", json=draft_body())).status == 201
        assert (await api.post("/api/leads", json=lead_body())).status == 201
    await insert_sessions(db, 2)
    cursors = {}
    for path, key in LISTINGS.items():
        _, cursor = await fetch_page(api, path, key, limit=1)
        assert cursor is not None, path
        cursors[path] = cursor
    return cursors


async def test_a_cursor_is_refused_by_every_other_listing(
    api: TestClient, db: async_sessionmaker[AsyncSession]
) -> None:
    cursors = await issued_cursors(api, db)
    for issuer, cursor in cursors.items():
        for path, key in LISTINGS.items():
            response = await api.get(path, params={"cursor": cursor, "limit": "1"})
            if path == issuer:
                assert response.status == 200, await response.text()
                assert len((await response.json())[key]) == 1
            else:
                await assert_error(response, 400, "invalid_cursor")


def tampered(listing: str) -> list[str]:
    """Cursors no listing issued: broken encodings, then forged keys of either form."""
    keys: list[Any] = [
        [],
        ["1"],
        [1.5],
        [True],
        [1, 2],
        [2**63],
        [2**70],
        [-(2**70)],
        ["2025-11-02T14:23:00"],
        ["yesterday", "id"],
        ["2025-11-02T14:23:00", "id"],  # no zone
        ["2025-11-02T14:23:00+00:00", 7],
        ["2025-11-02T14:23:00+00:00", "a\x00b"],
        ["0001-01-01T00:00:00+01:00", "id"],
        [None, "id"],
    ]
    return [
        "",
        "not a cursor",
        "!!!!",
        "eyJ",  # truncated
        base64.urlsafe_b64encode(b"\xff\xfe\x00").decode(),
        forge([1]),
        forge({"l": listing}),
        forge({"k": [1]}),
        forge({"l": listing, "k": 1}),
        *(forge({"l": listing, "k": key}) for key in keys),
    ]


async def test_tampered_cursors_are_400(api: TestClient) -> None:
    for path, listing in LISTINGS.items():
        for cursor in tampered(listing):
            response = await api.get(path, params={"cursor": cursor})
            error = await assert_error(response, 400, "invalid_cursor")
            assert cursor == "" or cursor not in error["message"]


async def test_forged_cursor_of_the_right_form_is_just_a_position(api: TestClient) -> None:
    """Cursors are opaque, not secret: a well-formed one is a position like any other."""
    for _ in range(3):
        assert (await api.post("/api/leads", json=lead_body())).status == 201
    leads, _ = await fetch_page(api, "/api/leads", "leads", cursor=forge({"l": "leads", "k": [3]}))
    assert [lead["id"] for lead in leads] == [2, 1]
