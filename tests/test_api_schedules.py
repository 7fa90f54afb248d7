"""/api/schedules: create, list and delete; bad input is refused with why, nothing stored."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import Schedule
from tests.factories import count_rows

pytestmark = pytest.mark.usefixtures("citizens_home")


def schedule_body(**overrides: Any) -> dict[str, Any]:
    return {"citizen": "emma", "cron": "0 8 * * 1-5", "message": "Scan the new leads"} | overrides


async def test_a_schedule_is_created_listed_and_deleted(api: TestClient) -> None:
    before = datetime.now(UTC)
    response = await api.post("/api/schedules", json=schedule_body(cron=" 0  8 * *   1-5 "))
    assert response.status == 201, await response.text()
    created = await response.json()
    assert {k: created[k] for k in ("citizen", "cron", "message")} == {
        "citizen": "emma",
        "cron": "0 8 * * 1-5",
        "message": "Scan the new leads",
    }
    next_run = datetime.fromisoformat(created["next_run_at"].replace("Z", "+00:00"))
    # TIMEZONE is UTC here: the next weekday at 08:00.
    assert next_run > before and next_run.weekday() < 5
    assert (next_run.hour, next_run.minute, next_run.second) == (8, 0, 0)
    assert created["next_run_at"].endswith("Z")

    listed = await (await api.get("/api/schedules")).json()
    assert [s["id"] for s in listed["schedules"]] == [created["id"]]

    deleted = await api.delete(f"/api/schedule/{created['id']}")
    assert deleted.status == 204
    assert (await (await api.get("/api/schedules")).json()) == {"schedules": []}
    again = await api.delete(f"/api/schedule/{created['id']}")
    assert again.status == 404
    assert (await again.json())["error"]["code"] == "schedule_not_found"


@pytest.mark.parametrize("timezone", ["Asia/Kolkata"])
async def test_the_next_time_is_computed_in_timezone(
    aiohttp_client: Any, make_settings: Any, timezone: str
) -> None:
    from storage.engine import create_engine
    from storage.migrate import upgrade_to_head
    from tests.conftest import API_TOKEN
    from web.app import create_app

    settings = make_settings(timezone=timezone)
    engine = create_engine(settings.database_url)
    await upgrade_to_head(engine)
    try:
        client = await aiohttp_client(create_app(settings, engine))
        response = await client.post(
            "/api/schedules",
            json=schedule_body(cron="30 9 * * *"),
            headers={"Authorization": f"Bearer {API_TOKEN}"},
        )
        assert response.status == 201
        next_run = (await response.json())["next_run_at"]
    finally:
        await engine.dispose()
    # 09:30 in Kolkata (UTC+05:30) is 04:00 UTC.
    assert next_run.endswith("T04:00:00Z")


@pytest.mark.parametrize(
    ("body", "field", "why"),
    [
        (schedule_body(cron="61 8 * * *"), "cron", "bad minute"),
        (schedule_body(cron="0 8 * *"), "cron", "5 fields"),
        (schedule_body(cron="0 8 31 2 *"), "cron", "bad day-of-month"),
        (schedule_body(cron="every day"), "cron", "5 fields"),
        (schedule_body(citizen="zoe"), "citizen", "no citizen 'zoe'"),
        (schedule_body(citizen="../etc"), "citizen", "pattern"),
        (schedule_body(message="   "), "message", "blank"),
        (schedule_body(message="x" * 4001), "message", "at most 4000"),
        ({"citizen": "emma", "cron": "* * * * *"}, "message", "required"),
        (schedule_body(extra=1), "extra", "not permitted"),
    ],
)
async def test_bad_input_is_refused_with_why_and_stores_nothing(
    api: TestClient,
    db: async_sessionmaker[AsyncSession],
    body: dict[str, Any],
    field: str,
    why: str,
) -> None:
    response = await api.post("/api/schedules", json=body)
    assert response.status == 422
    error = (await response.json())["error"]
    assert error["code"] == "validation_error"
    assert error["details"][0]["field"] == field
    assert why in error["message"].lower()
    assert await count_rows(db, Schedule) == 0


async def test_unknown_ids_are_404(api: TestClient) -> None:
    for raw in ("999", "abc", "1" * 30):
        response = await api.delete(f"/api/schedule/{raw}")
        assert response.status == 404
        assert (await response.json())["error"]["code"] == "schedule_not_found"


async def test_the_routes_are_in_the_openapi_document(api: TestClient) -> None:
    paths = (await (await api.get("/api/openapi.json")).json())["paths"]
    assert set(paths["/api/schedules"]) == {"get", "post"}
    assert set(paths["/api/schedule/{schedule_id}"]) == {"delete"}
    assert "get" in paths["/api/stats"]
