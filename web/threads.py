"""Thread routes: one conversation with a client, as the operator and the citizens read it."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from json.encoder import encode_basestring

from aiohttp import web

from storage.hotpath import Row
from storage.repo import threads
from web.endpoints import Endpoint, json_response
from web.errors import ApiError
from web.events import utc_text
from web.keys import DB, HOT
from web.pagination import decode_time_cursor, time_cursor
from web.schemas import ThreadOut, ThreadPage, ThreadsQuery, ThreadSummary, is_storable


async def list_threads(request: web.Request, query: ThreadsQuery) -> web.Response:
    after = None if query.cursor is None else decode_time_cursor("threads", query.cursor)
    async with request.app[DB]() as session:
        rows = await threads.list_page(
            session=session,
            client=query.client,
            waiting=query.waiting,
            limit=query.limit + 1,
            after=after,
        )
    page = rows[: query.limit]
    next_cursor = None
    if len(rows) > query.limit:
        next_cursor = time_cursor("threads", page[-1].last_message_at, page[-1].id)
    return json_response(
        ThreadPage(
            threads=[ThreadSummary.model_validate(row) for row in page], next_cursor=next_cursor
        )
    )


async def get_thread(request: web.Request) -> web.Response:
    thread_id = request.match_info["thread_id"]
    found = None
    if is_storable(thread_id):  # a NUL or a lone surrogate cannot name a row
        found = await threads.view_rows(hot=request.app[HOT], thread_id=thread_id)
    if found is None:
        raise ApiError(404, "thread_not_found", f"No thread has id {thread_id!r}.")
    return web.Response(body=thread_json(found), content_type="application/json")


def thread_json(rows: threads.ThreadRows) -> bytes:
    """The `ThreadOut` document, written straight from the rows: validating a model per
    message and encoding it again cost more than the rest of the request."""
    feedback: dict[str, list[str]] = defaultdict(list)
    for draft_id, kind, text, old_text, at in rows.feedback:
        feedback[draft_id].append(
            f'{{"kind":{_text(kind)},"text":{_text(text)},"old_text":{_text(old_text)},'
            f'"at":{_time(at)}}}'
        )
    thread = rows.thread
    parts = [
        f'{{"id":{_text(thread[0])},"platform":{_text(thread[1])},"client":{_text(thread[2])},'
        f'"job_title":{_text(thread[3])},"job_link":{_text(thread[4])},'
        f'"created_at":{_time(thread[5])},"last_message_at":{_time(thread[6])},'
        f'"waiting_since":{_time(thread[7])},"messages":[',
        ",".join(
            f'{{"direction":{_text(direction)},"text":{_text(text)},"at":{_time(at)},'
            f'"draft_id":{_text(draft_id)}}}'
            for direction, text, at, draft_id in rows.messages
        ),
        '],"drafts":[',
        ",".join(_draft(draft, feedback[draft[0]]) for draft in rows.drafts),
        '],"sessions":[',
        ",".join(
            f'{{"id":{_text(id_)},"citizen":{_text(citizen)},"status":{_text(status)},'
            f'"cost_usd":{_number(cost)}}}'
            for id_, citizen, status, cost in rows.sessions
        ),
        "]}",
    ]
    return "".join(parts).encode()


def _draft(draft: Row, feedback: list[str]) -> str:
    id_, citizen, status, draft_text, created_at, decided_at, sent_at, note = draft
    return (
        f'{{"id":{_text(id_)},"citizen":{_text(citizen)},"status":{_text(status)},'
        f'"draft_text":{_text(draft_text)},"created_at":{_time(created_at)},'
        f'"decided_at":{_time(decided_at)},"sent_at":{_time(sent_at)},"note":{_text(note)},'
        f'"feedback":[{",".join(feedback)}]}}'
    )


def _text(value: str | None) -> str:
    return "null" if value is None else str(encode_basestring(value))


def _number(value: float | None) -> str:
    return "null" if value is None else repr(float(value))


def _time(value: datetime | None) -> str:
    return "null" if value is None else f'"{utc_text(value)}"'


ENDPOINTS = [
    Endpoint(
        "GET",
        "/api/threads",
        list_threads,
        "Threads (conversations with a client), latest activity first.",
        responses={200: ThreadPage},
        errors=(400, 401, 503),
        query=ThreadsQuery,
    ),
    Endpoint(
        "GET",
        "/api/thread/{thread_id}",
        get_thread,
        "One thread: its messages, drafts with the operator's feedback, and sessions.",
        responses={200: ThreadOut},
        errors=(401, 404, 503),
    ),
]
