"""Schedule routes: a citizen session at every time a cron expression names (CONTRACT §10)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from aiohttp import web
from pydantic import StringConstraints

from citizens import schedules as adding
from citizens.schedules import MAX_MESSAGE_CHARS, ScheduleRefused
from storage.repo import schedules
from storage.types import utcnow
from web.endpoints import Endpoint, json_response
from web.errors import ApiError
from web.keys import DB, SETTINGS
from web.schemas import CITIZEN_PATTERN, Chars, NonBlank, RequestBody, Response


class ScheduleCreate(RequestBody):
    citizen: Annotated[str, StringConstraints(pattern=CITIZEN_PATTERN)]
    cron: Annotated[NonBlank, Chars(100)]
    """Five fields, `minute hour day-of-month month day-of-week`, in TIMEZONE."""
    message: Annotated[NonBlank, Chars(MAX_MESSAGE_CHARS)]


class ScheduleOut(Response):
    id: int
    citizen: str
    cron: str
    message: str
    next_run_at: datetime
    created_at: datetime
    last_fired_at: datetime | None
    last_session_id: str | None


class SchedulePage(Response):
    schedules: list[ScheduleOut]


async def list_schedules(request: web.Request) -> web.Response:
    async with request.app[DB]() as session:
        rows = await schedules.list_all(session=session)
    return json_response(SchedulePage(schedules=[ScheduleOut.model_validate(r) for r in rows]))


async def create_schedule(request: web.Request, body: ScheduleCreate) -> web.Response:
    try:
        async with request.app[DB]() as session, session.begin():
            row = await adding.add(
                session=session,
                settings=request.app[SETTINGS],
                citizen=body.citizen,
                expression=body.cron,
                message=body.message,
                now=utcnow(),
            )
            out = ScheduleOut.model_validate(row)
    except ScheduleRefused as refused:
        raise ApiError(
            422,
            "validation_error",
            f"{refused.field}: {refused.reason}.",
            [{"field": refused.field, "message": refused.reason}],
        ) from None
    return json_response(out, status=201)


async def delete_schedule(request: web.Request) -> web.Response:
    raw = request.match_info["schedule_id"]
    deleted = False
    if raw.isascii() and raw.isdigit() and len(raw) <= 18:
        async with request.app[DB]() as session, session.begin():
            deleted = await schedules.remove(session=session, schedule_id=int(raw))
    if not deleted:
        raise ApiError(404, "schedule_not_found", f"No schedule has id {raw!r}.")
    return web.Response(status=204)


ENDPOINTS = [
    Endpoint(
        "GET",
        "/api/schedules",
        list_schedules,
        "Every schedule, oldest first.",
        responses={200: SchedulePage},
        errors=(401, 503),
    ),
    Endpoint(
        "POST",
        "/api/schedules",
        create_schedule,
        "Queue a session of a citizen at every time a cron expression names (in TIMEZONE).",
        responses={201: ScheduleOut},
        errors=(400, 401, 413, 415, 422, 503),
        body=ScheduleCreate,
    ),
    Endpoint(
        "DELETE",
        "/api/schedule/{schedule_id}",
        delete_schedule,
        "Remove a schedule.",
        responses={204: None},
        errors=(401, 404, 503),
    ),
]
