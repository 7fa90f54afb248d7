"""Thread routes: one conversation with a client, as the operator and the citizens read it."""

from __future__ import annotations

from typing import Any

import pydantic_core
from aiohttp import web

from storage.repo import threads
from web.endpoints import Endpoint, json_response
from web.errors import ApiError
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
    return thread_response(await thread_view(request, request.match_info["thread_id"]))


async def thread_view(request: web.Request, thread_id: str) -> dict[str, Any]:
    """The thread view (GET /api/thread/{id}, and the Mini App's); 404 when there is none."""
    found = None
    if is_storable(thread_id):  # a NUL or a lone surrogate cannot name a row
        found = await threads.view(hot=request.app[HOT], thread_id=thread_id)
    if found is None:
        raise ApiError(404, "thread_not_found", f"No thread has id {thread_id!r}.")
    return found


def thread_response(view: dict[str, Any]) -> web.Response:
    """`ThreadOut`'s document: the view's parts are named as its fields, so the rows are
    dumped as they are (pydantic's encoder) without validating each of a long thread's
    messages again, which halved the route's throughput (`python -m bench --only thread`);
    tests/test_thread_view_json.py holds the two documents equal."""
    return web.Response(body=pydantic_core.to_json(view), content_type="application/json")


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
