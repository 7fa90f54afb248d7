"""Notes routes: the dated lines the citizens share (their `read_notes` / `write_note` tools)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from aiohttp import web
from pydantic import Field, StringConstraints

from storage.repo import notes
from web.endpoints import Endpoint, json_response
from web.errors import ApiError
from web.keys import DB
from web.pagination import decode_id_cursor, id_cursor
from web.schemas import CITIZEN_PATTERN, Chars, NonBlank, Query, RequestBody, Response
from web.session_auth import SESSION_CALLER

# Who wrote a note when no citizen is named (and no session token names one).
DEFAULT_AUTHOR = "operator"


class NoteCreate(RequestBody):
    text: Annotated[NonBlank, Chars(2000)]
    citizen: Annotated[str, StringConstraints(pattern=CITIZEN_PATTERN)] = DEFAULT_AUTHOR


class NoteOut(Response):
    id: int
    citizen: str
    text: str
    created_at: datetime


class NotesQuery(Query):
    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = None


class NotePage(Response):
    notes: list[NoteOut]
    next_cursor: str | None


async def create_note(request: web.Request, body: NoteCreate) -> web.Response:
    """A note by the calling session's citizen (a body naming another one: 403), else by
    `citizen` (the operator by default)."""
    citizen = body.citizen
    caller = request.get(SESSION_CALLER)
    if caller is not None:
        if "citizen" in body.model_fields_set and body.citizen != caller.citizen:
            raise ApiError(
                403, "forbidden", f"This session writes notes as {caller.citizen!r} only."
            )
        citizen = caller.citizen
    async with request.app[DB]() as session, session.begin():
        note = await notes.add(session=session, citizen=citizen, text=body.text)
        out = NoteOut.model_validate(note)
    return json_response(out, status=201)


async def list_notes(request: web.Request, query: NotesQuery) -> web.Response:
    before_id = None if query.cursor is None else decode_id_cursor("notes", query.cursor)
    async with request.app[DB]() as session:
        rows = await notes.list_page(session=session, limit=query.limit + 1, before_id=before_id)
    page = [NoteOut.model_validate(row) for row in rows[: query.limit]]
    next_cursor = id_cursor("notes", page[-1].id) if len(rows) > query.limit else None
    return json_response(NotePage(notes=page, next_cursor=next_cursor))


ENDPOINTS = [
    Endpoint(
        "POST",
        "/api/notes",
        create_note,
        "Share a note between citizens (a dated line by a citizen).",
        responses={201: NoteOut},
        errors=(400, 401, 403, 413, 415, 422, 503),
        body=NoteCreate,
    ),
    Endpoint(
        "GET",
        "/api/notes",
        list_notes,
        "The citizens' notes, newest first.",
        responses={200: NotePage},
        errors=(400, 401, 503),
        query=NotesQuery,
    ),
]
