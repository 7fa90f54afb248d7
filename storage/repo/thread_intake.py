"""A client's message joins its thread (CONTRACT §9), as statements of a caller's
`HotPath.transaction()` (on PostgreSQL, on the driver: the webhook's hot path,
`python -m bench --only webhook` measures it).

The thread is the one named by the sender's own key (`thread`), else the latest with the same
job link, else the latest with the same client and job title as `storage.folding.fold` folds
them; otherwise a new one begins. Messages that may open one thread take its names' locks
first, so two at the same instant open one. The message is stored as `in`, the thread's clock
moves on, and every pending draft of the thread is superseded: it answers an outdated message.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update

from storage.folding import fold
from storage.hotpath import Fetch, HotStatement
from storage.locks import Name
from storage.models import Draft, Thread, ThreadMessage
from storage.repo import events

_T, _M, _D = Thread.__table__, ThreadMessage.__table__, Draft.__table__


@dataclass(frozen=True)
class ClientMessage:
    client: str
    message: str
    job_title: str | None = None
    job_link: str | None = None
    platform: str = "upwork"
    key: str | None = None
    """The sender's conversation key (a Gmail thread id)."""


@dataclass(frozen=True)
class Joined:
    thread_id: str
    new_thread: bool
    superseded: Sequence[str]
    """The ids of the thread's drafts that were pending: their cards must say the client wrote
    again (`draft_changed`, after the commit)."""


_LATEST = (_T.c.last_message_at.desc(), _T.c.id.desc())
_THREAD = select(_T.c.id, _T.c.platform).order_by(*_LATEST).limit(1).with_for_update()
_BY_KEY = HotStatement(_THREAD.where(_T.c.external_key == bindparam("key")))
_BY_LINK = HotStatement(_THREAD.where(_T.c.job_link == bindparam("job_link")))
_BY_CLIENT_TITLE = HotStatement(
    _THREAD.where(
        _T.c.client_key == bindparam("client_key"),
        _T.c.job_title_key == bindparam("job_title_key"),
    )
)
_BY_CLIENT_UNTITLED = HotStatement(
    _THREAD.where(_T.c.client_key == bindparam("client_key"), _T.c.job_title_key.is_(None))
)
_NEW_THREAD = HotStatement(
    insert(_T).values(
        id=bindparam("thread_id"),
        platform=bindparam("platform"),
        client=bindparam("client"),
        client_key=bindparam("client_key"),
        job_title=bindparam("job_title"),
        job_title_key=bindparam("job_title_key"),
        job_link=bindparam("job_link"),
        external_key=bindparam("key"),
        created_at=bindparam("now"),
        last_message_at=bindparam("now"),
        waiting_since=bindparam("now"),
    )
)
_JOIN_THREAD = HotStatement(
    update(_T)
    .where(_T.c.id == bindparam("thread_id"))
    .values(
        job_title=func.coalesce(_T.c.job_title, bindparam("new_title")),
        job_title_key=func.coalesce(_T.c.job_title_key, bindparam("new_title_key")),
        job_link=func.coalesce(_T.c.job_link, bindparam("new_link")),
        external_key=func.coalesce(_T.c.external_key, bindparam("key")),
        last_message_at=bindparam("now"),
        waiting_since=func.coalesce(_T.c.waiting_since, bindparam("now")),
    )
)
_MESSAGE = HotStatement(
    insert(_M).values(
        thread_id=bindparam("thread_id"),
        direction="in",
        text=bindparam("text"),
        at=bindparam("now"),
    )
)
_SUPERSEDE = HotStatement(
    update(_D)
    .where(_D.c.thread_id == bindparam("of_thread"), _D.c.status == "pending")
    .values(status="superseded", updated_at=bindparam("now"), decided_at=bindparam("now"))
    .returning(_D.c.id)
)


def lock_names(incoming: ClientMessage) -> list[Name]:
    """What to hold (storage/locks.py) before `receive`: every name by which the message may
    find the thread it would begin, so that two messages of one new thread open one."""
    names: list[Name] = [("thread-client", fold(incoming.client), fold(incoming.job_title) or "")]
    if incoming.key is not None:
        names.append(("thread-key", incoming.key))
    if incoming.job_link is not None:
        names.append(("thread-link", incoming.job_link))
    return names


async def receive(fetch: Fetch, *, incoming: ClientMessage, now: datetime) -> Joined:
    """Store the message in its thread, with `thread.message.received@1.0` and a
    `draft.superseded@1.0` per pending draft of that thread; in the caller's transaction,
    holding the message's `lock_names`."""
    params: dict[str, Any] = {
        "client": incoming.client,
        "client_key": fold(incoming.client),
        "job_title": incoming.job_title,
        "job_title_key": fold(incoming.job_title),
        "job_link": incoming.job_link,
        "key": incoming.key,
        "now": now,
    }
    found = await _find(fetch, incoming, params)
    superseded: Sequence[str] = []
    if found is None:
        thread_id, platform = str(uuid.uuid4()), incoming.platform.lower()
        await fetch(_NEW_THREAD, {**params, "thread_id": thread_id, "platform": platform})
    else:
        thread_id, platform = found
        # Only its own parameters: on SQLite a parameter named as a column would be SET too.
        joining = {
            "thread_id": thread_id,
            "new_title": params["job_title"],
            "new_title_key": params["job_title_key"],
            "new_link": params["job_link"],
            "key": incoming.key,
            "now": now,
        }
        await fetch(_JOIN_THREAD, joining)
    await fetch(_MESSAGE, {"thread_id": thread_id, "text": incoming.message, "now": now})
    await events.append_with(
        fetch,
        event="thread.message.received@1.0",
        now=now,
        payload={
            "thread_id": thread_id,
            "client": incoming.client,
            "platform": platform,
            "new_thread": found is None,
            "message_chars": len(incoming.message),
        },
    )
    if found is not None:
        superseded = [
            row[0] for row in await fetch(_SUPERSEDE, {"of_thread": thread_id, "now": now})
        ]
        for draft_id in superseded:
            await events.append_with(
                fetch,
                event="draft.superseded@1.0",
                now=now,
                payload={"draft_id": draft_id, "thread_id": thread_id, "reason": "client_wrote"},
            )
    return Joined(thread_id, found is None, superseded)


async def _find(
    fetch: Fetch, incoming: ClientMessage, params: dict[str, Any]
) -> tuple[str, str] | None:
    """The thread this message belongs to, locked for the caller's transaction; or None."""
    if incoming.key is not None and (rows := await fetch(_BY_KEY, params)):
        return rows[0][0], rows[0][1]
    if incoming.job_link is not None and (rows := await fetch(_BY_LINK, params)):
        return rows[0][0], rows[0][1]
    by_title = _BY_CLIENT_UNTITLED if incoming.job_title is None else _BY_CLIENT_TITLE
    rows = await fetch(by_title, params)
    return (rows[0][0], rows[0][1]) if rows else None
