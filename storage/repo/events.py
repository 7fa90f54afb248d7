"""The append-only event log.

The log is written and read on the API's hot paths, so its statements are plain Core on the
table, built once: `log` and `page` run them through `storage.hotpath` (a statement of their
own; `python -m bench` "POST /api/event/log" and "GET /api/events" measure them),
`append_with` in a caller's `HotPath.transaction()`, `append` and `list_page` inside a
caller's session: the same statements each time.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, NamedTuple

from sqlalchemy import Select, Text, bindparam, cast, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.hotpath import Fetch, HotPath, HotStatement
from storage.models import Event
from storage.types import utcnow

_LIKE_ESCAPES = str.maketrans({"\\": "\\\\", "%": "\\%", "_": "\\_"})
EVENTS = Event.__table__
_INSERT = (
    insert(EVENTS)
    .values(
        event=bindparam("event"), timestamp=bindparam("timestamp"), payload=bindparam("payload")
    )
    .returning(EVENTS.c.id)
)
_HOT_INSERT = HotStatement(_INSERT)

Match = Literal["exact", "prefix"] | None

MAX_PAYLOAD_BYTES = 64 * 1024
"""A payload's cap as compact UTF-8 JSON (CONTRACT §3): a page of 1000 stays under 64 MiB."""
_CUT_MARK = "…"


class PayloadTooLarge(ValueError):
    """An event payload over MAX_PAYLOAD_BYTES."""


def payload_bytes(payload: dict[str, Any]) -> int:
    """The payload's size as compact UTF-8 JSON."""
    return len(json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode())


def _fitted(payload: dict[str, Any]) -> dict[str, Any]:
    """The service's own payload, its longest top-level strings cut until it fits the cap.

    The service's events quote outside text (a draft's old and new text); the text itself stays
    in its table, so cutting the copy in the log loses nothing that is not kept elsewhere.
    """
    fitted = dict(payload)
    while (size := payload_bytes(fitted)) > MAX_PAYLOAD_BYTES:
        strings = [
            key for key, value in fitted.items() if isinstance(value, str) and len(value) > 1
        ]
        if not strings:
            raise PayloadTooLarge(f"event payload of {size} bytes is over {MAX_PAYLOAD_BYTES}")
        longest = max(strings, key=lambda key: len(fitted[key]))
        text = fitted[longest].removesuffix(_CUT_MARK)
        fitted[longest] = text[: len(text) // 2] + _CUT_MARK
    return fitted


class EventRow(NamedTuple):
    id: int
    event: str
    timestamp: datetime
    payload: dict[str, Any]


@dataclass(frozen=True)
class EventFilter:
    since: datetime | None = None
    until: datetime | None = None
    name: str | None = None
    """An exact event name, or a prefix ending in `*` (`draft.*`)."""


async def append(*, session: AsyncSession, event: str, payload: dict[str, Any]) -> EventRow:
    """Write one event in the caller's transaction; returns it with its id and timestamp.

    For the service's own events: a payload over the cap has its longest strings shortened.
    """
    payload = _fitted(payload)
    timestamp = utcnow()
    values = {"event": event, "timestamp": timestamp, "payload": payload}
    event_id = (await session.execute(_INSERT, values)).scalar_one()
    return EventRow(event_id, event, timestamp, payload)


async def append_with(fetch: Fetch, *, event: str, payload: dict[str, Any], now: datetime) -> None:
    """`append`, as a statement of a `HotPath.transaction()` (payloads bounded by the caller)."""
    await fetch(_HOT_INSERT, {"event": event, "timestamp": now, "payload": payload})


async def log(*, hot: HotPath, event: str, payload: dict[str, Any]) -> EventRow:
    """Write one event as a transaction of its own; a payload over the cap is refused."""
    size = payload_bytes(payload)
    if size > MAX_PAYLOAD_BYTES:
        raise PayloadTooLarge(f"event payload of {size} bytes is over {MAX_PAYLOAD_BYTES}")
    timestamp = utcnow()
    values = {"event": event, "timestamp": timestamp, "payload": payload}
    event_id = await hot.fetchval(_HOT_INSERT, values)
    return EventRow(event_id, event, timestamp, payload)


async def list_page(
    *, session: AsyncSession, where: EventFilter, limit: int, before_id: int | None = None
) -> list[EventRow]:
    """Newest first; `before_id` is the keyset cursor (the last id of the previous page)."""
    statement, params = page_statement(where, limit, before_id)
    return [EventRow(*row) for row in await session.execute(statement, params)]


class RawEventRow(NamedTuple):
    id: int
    event: str
    timestamp: datetime
    payload_json: str
    """The payload as the database holds it: JSON text, never decoded."""


async def page(
    *, hot: HotPath, where: EventFilter, limit: int, before_id: int | None = None
) -> list[RawEventRow]:
    """`list_page` as a statement of its own, for the API, with each payload as the JSON text
    the database holds: the API passes it through instead of decoding and encoding it again."""
    shape, params = _shape_and_params(where, limit, before_id)
    return [RawEventRow(*row) for row in await hot.fetch(_hot_page_query(*shape), params)]


def page_statement(
    where: EventFilter, limit: int, before_id: int | None = None
) -> tuple[Select[tuple[int, str, datetime, dict[str, Any]]], dict[str, Any]]:
    """The statement of a page and its parameters (query-plan checks explain it)."""
    shape, params = _shape_and_params(where, limit, before_id)
    return _page_query(*shape), params


def _shape_and_params(
    where: EventFilter, limit: int, before_id: int | None
) -> tuple[tuple[bool, bool, bool, Match], dict[str, Any]]:
    name = where.name
    match: Match = None
    if name is not None:
        match = "exact"
        if name.endswith("*"):
            name, match = name[:-1].translate(_LIKE_ESCAPES) + "%", "prefix"
    shape = (before_id is not None, where.since is not None, where.until is not None, match)
    params = {
        "limit": limit,
        "before_id": before_id,
        "since": where.since,
        "until": where.until,
        "name": name,
    }
    return shape, params


@functools.cache
def _page_query(
    before_id: bool, since: bool, until: bool, match: Match
) -> Select[tuple[int, str, datetime, dict[str, Any]]]:
    """The statement for one combination of filters (at most 24), built once; the values are
    bound parameters. Building it per call would cost about as much as running it."""
    query = select(EVENTS.c.id, EVENTS.c.event, EVENTS.c.timestamp, EVENTS.c.payload)
    query = query.order_by(EVENTS.c.id.desc()).limit(bindparam("limit"))
    if before_id:
        query = query.where(EVENTS.c.id < bindparam("before_id"))
    if since:
        query = query.where(EVENTS.c.timestamp >= bindparam("since"))
    if until:
        query = query.where(EVENTS.c.timestamp < bindparam("until"))
    if match == "exact":
        query = query.where(EVENTS.c.event == bindparam("name"))
    elif match == "prefix":
        query = query.where(EVENTS.c.event.like(bindparam("name"), escape="\\"))
    return query


@functools.cache
def _hot_page_query(before_id: bool, since: bool, until: bool, match: Match) -> HotStatement:
    query = _page_query(before_id, since, until, match)
    # jsonb::text on PostgreSQL; on SQLite the stored text itself.
    return HotStatement(query.with_only_columns(*query.selected_columns[:3], _PAYLOAD_TEXT))


_PAYLOAD_TEXT = cast(EVENTS.c.payload, Text)
