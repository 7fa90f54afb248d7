"""Citizen session routes: what ran, what is running, what waits."""

from __future__ import annotations

from aiohttp import web

from storage.repo import citizen_sessions
from web.endpoints import Endpoint, json_response
from web.errors import ApiError
from web.keys import DB
from web.pagination import decode_time_cursor, time_cursor
from web.schemas import SessionOut, SessionPage, SessionsQuery, is_storable


async def list_sessions(request: web.Request, query: SessionsQuery) -> web.Response:
    after = None if query.cursor is None else decode_time_cursor("sessions", query.cursor)
    async with request.app[DB]() as session:
        rows = await citizen_sessions.list_page(
            session=session,
            citizen=query.citizen,
            status=query.status,
            thread_id=query.thread_id,
            limit=query.limit + 1,
            after=after,
        )
    page = rows[: query.limit]
    next_cursor = None
    if len(rows) > query.limit:
        next_cursor = time_cursor("sessions", page[-1].created_at, page[-1].id)
    return json_response(
        SessionPage(
            sessions=[SessionOut.model_validate(row) for row in page], next_cursor=next_cursor
        )
    )


async def get_session(request: web.Request) -> web.Response:
    session_id = request.match_info["session_id"]
    row = None
    if is_storable(session_id):  # a NUL or a lone surrogate cannot name a row
        async with request.app[DB]() as session:
            row = await citizen_sessions.get(session=session, session_id=session_id)
    if row is None:
        raise ApiError(404, "session_not_found", f"No citizen session has id {session_id!r}.")
    return json_response(SessionOut.model_validate(row))


ENDPOINTS = [
    Endpoint(
        "GET",
        "/api/sessions",
        list_sessions,
        "Citizen sessions, newest first.",
        responses={200: SessionPage},
        errors=(400, 401, 503),
        query=SessionsQuery,
    ),
    Endpoint(
        "GET",
        "/api/session/{session_id}",
        get_session,
        "One citizen session.",
        responses={200: SessionOut},
        errors=(401, 404, 503),
    ),
]
