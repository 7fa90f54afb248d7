"""Helpers shared by the API tests: walking a paginated listing, checking the error shape."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

UTC_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$")


async def fetch_page(
    api: TestClient, path: str, key: str, **params: Any
) -> tuple[list[dict[str, Any]], str | None]:
    response = await api.get(path, params={k: str(v) for k, v in params.items()})
    assert response.status == 200, await response.text()
    body = await response.json()
    return body[key], body["next_cursor"]


async def walk_pages(
    api: TestClient, path: str, key: str, *, max_pages: int = 100, **params: Any
) -> list[list[dict[str, Any]]]:
    """Every page of a listing, following `next_cursor` until it is null."""
    pages: list[list[dict[str, Any]]] = []
    cursor: str | None = None
    for _ in range(max_pages):
        query = dict(params) if cursor is None else {**params, "cursor": cursor}
        items, cursor = await fetch_page(api, path, key, **query)
        pages.append(items)
        if cursor is None:
            return pages
    raise AssertionError(f"{path} still had a next_cursor after {max_pages} pages")


async def assert_error(
    response: ClientResponse, status: int, code: str, *, field: str | None = None
) -> dict[str, Any]:
    """The contract's error shape with this status and code (and a detail naming `field`)."""
    text = await response.text()
    assert response.status == status, text
    assert response.content_type == "application/json"
    body = await response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) <= {"code", "message", "details"}, error
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"], error
    if field is not None:
        fields = [detail["field"] for detail in error.get("details", [])]
        assert field in fields, error
        assert all(detail["message"] for detail in error["details"]), error
    return error
