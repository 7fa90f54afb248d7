"""Event routes: citizens log what they did; anyone with the token reads the log."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from aiohttp import web

from storage.repo import events
from web.endpoints import Endpoint, json_response
from web.errors import ApiError
from web.keys import HOT
from web.pagination import decode_id_cursor, id_cursor
from web.schemas import (
    RESERVED_EVENT_NAMESPACES,
    EventCreate,
    EventCreated,
    EventPage,
    EventsQuery,
)

RESERVED_PREFIXES = tuple(f"{name}." for name in RESERVED_EVENT_NAMESPACES)


async def log_event(request: web.Request, body: EventCreate) -> web.Response:
    if body.event.startswith(RESERVED_PREFIXES):
        message = f"{body.event.partition('.')[0]}. is one of the service's own namespaces"
        raise ApiError(
            422,
            "reserved_event_name",
            f"event: {message}.",
            [{"field": "event", "message": message}],
        )
    event = await events.log(hot=request.app[HOT], event=body.event, payload=body.payload)
    return json_response(EventCreated(event_id=event.id, timestamp=event.timestamp), status=201)


async def list_events(request: web.Request, query: EventsQuery) -> web.Response:
    before_id = None if query.cursor is None else decode_id_cursor("events", query.cursor)
    where = events.EventFilter(since=query.since, until=query.until, name=query.event)
    rows = await events.page(
        hot=request.app[HOT], where=where, limit=query.limit + 1, before_id=before_id
    )
    page = rows[: query.limit]
    next_cursor = id_cursor("events", page[-1].id) if len(rows) > query.limit else None
    return web.Response(body=page_json(page, next_cursor), content_type="application/json")


def page_json(rows: list[events.RawEventRow], next_cursor: str | None) -> bytes:
    """The `EventPage` document, with each stored payload passed through as it is: decoding
    and encoding every payload again cost more than the rest of the request."""
    items = ",".join(
        f'{{"id":{row.id},"event":{json.dumps(row.event)},'
        f'"timestamp":"{utc_text(row.timestamp)}","payload":{row.payload_json}}}'
        for row in rows
    )
    tail = f'],"total":{len(rows)},"next_cursor":{json.dumps(next_cursor)}}}'
    return ('{"events":[' + items + tail).encode()


def utc_text(moment: datetime) -> str:
    """As pydantic writes a UTC datetime: ISO 8601 with a `Z`."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


ENDPOINTS = [
    Endpoint(
        "POST",
        "/api/event/log",
        log_event,
        "Append an event to the log.",
        responses={201: EventCreated},
        errors=(400, 401, 403, 413, 415, 422, 503),
        body=EventCreate,
    ),
    Endpoint(
        "GET",
        "/api/events",
        list_events,
        "Events, newest first.",
        responses={200: EventPage},
        errors=(400, 401, 503),
        query=EventsQuery,
    ),
]
