"""Session tokens on the API: a citizen session's CLI (and its MCP server) calls with
`Authorization: Bearer <SCOPELOCK_SESSION_TOKEN>`.

Such a token works only while its session runs (401 afterwards) and only on what a citizen
needs (403 elsewhere): post drafts, events and leads, read leads, its own thread and that
thread's drafts, and the shared notes. This holds whether or not `API_TOKEN` is set. The
calling session is put on the request (`SESSION_CALLER`), so routes can attribute what it
writes.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlmodel import col

from storage.models import Draft
from storage.repo import session_tokens
from web.errors import ApiError, Handler
from web.keys import DB
from web.schemas import is_storable


@dataclass(frozen=True)
class SessionCaller:
    """The running citizen session a request comes from."""

    session_id: str
    citizen: str
    thread_id: str | None
    lead_id: int | None


SESSION_CALLER = web.RequestKey("session_caller", SessionCaller)

# Routes (method, path pattern) a session token may use anywhere.
OPEN_TO_SESSIONS = frozenset(
    {
        ("POST", "/api/draft/create"),
        ("POST", "/api/event/log"),
        ("POST", "/api/leads"),
        ("GET", "/api/leads"),
        ("GET", "/api/lead/{lead_id}"),
        ("GET", "/api/notes"),
        ("POST", "/api/notes"),
    }
)


def session_token_middleware(api_token: str | None) -> web.middleware:  # type: ignore[valid-type]
    """Authenticate and scope session tokens; other requests pass on unchanged (to the
    `API_TOKEN` check when it is set)."""
    operator = None if api_token is None else api_token.encode()

    @web.middleware
    async def check_session_token(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/api/"):
            token = _bearer_token(request)
            if (
                token is not None
                and session_tokens.is_session_token(token)
                and not (operator is not None and hmac.compare_digest(token.encode(), operator))
            ):
                caller = await _caller(request, token)
                await _check_scope(request, caller)
                request[SESSION_CALLER] = caller
        return await handler(request)

    return check_session_token


def draft_fields(fields: dict[str, Any], given: set[str], caller: SessionCaller) -> None:
    """Attribute a draft to the calling session: its citizen, its id and its thread; its lead
    unless the body names one. A body naming another citizen or thread is refused."""
    if "citizen" in given and fields["citizen"] != caller.citizen:
        raise ApiError(403, "forbidden", "A session posts drafts only as its own citizen.")
    if fields.get("thread_id") is not None and fields["thread_id"] != caller.thread_id:
        raise ApiError(403, "forbidden", "A session posts drafts only on its own thread.")
    fields["citizen"], fields["thread_id"] = caller.citizen, caller.thread_id
    fields["session_id"] = caller.session_id
    if fields.get("lead_id") is None:
        fields["lead_id"] = caller.lead_id


def _bearer_token(request: web.Request) -> str | None:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return given.strip() if scheme.lower() == "bearer" and given.strip() else None


async def _caller(request: web.Request, token: str) -> SessionCaller:
    async with request.app[DB]() as session:
        row = await session_tokens.session_for(session=session, token=token)
    if row is None or row.status != "running":
        raise ApiError(401, "unauthorized", "The session token is unknown or its session ended.")
    return SessionCaller(row.id, row.citizen, row.thread_id, row.lead_id)


async def _check_scope(request: web.Request, caller: SessionCaller) -> None:
    resource = request.match_info.route.resource
    # No resource: a path this process does not serve (then 403 unless it is a session's).
    route = (request.method, resource.canonical if resource is not None else request.path)
    if route in OPEN_TO_SESSIONS:
        return
    if caller.thread_id is not None and await _own_thread(request, route, caller.thread_id):
        return
    raise ApiError(403, "forbidden", "A session token may not use this route.")


async def _own_thread(request: web.Request, route: tuple[str, str], thread_id: str) -> bool:
    """Reads of the session's own thread: the thread, its drafts, one of its drafts."""
    if route == ("GET", "/api/thread/{thread_id}"):
        return request.match_info["thread_id"] == thread_id
    if route == ("GET", "/api/drafts"):
        return request.query.getall("thread_id", []) == [thread_id]
    if route == ("GET", "/api/draft/{draft_id}"):
        draft_id = request.match_info["draft_id"]
        if not is_storable(draft_id):
            return False
        async with request.app[DB]() as session:
            found = await session.scalar(
                select(col(Draft.thread_id)).where(col(Draft.id) == draft_id)
            )
        return found == thread_id
    return False
