"""A client's reply stored as one transaction of single statements on the hot path.

What `thread_intake.receive`, `citizen_queue.enqueue` and `webhook_deliveries` do for a reply,
as Core statements compiled once (on PostgreSQL run on the asyncpg driver, see
storage/hotpath.py): the delivery unless seen, the thread found (locked) or begun, the
message, the session and the delivery, and their events. A thread with pending drafts is left
to the ORM path, whose notifier edits their cards: `Superseding` rolls the transaction back.
The events' payloads are bounded by the webhook's field limits, far under the log's cap.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, bindparam, func, insert, literal, select, update

from storage.hotpath import Fetch, HotPath, HotStatement
from storage.models import (
    CitizenSession,
    Draft,
    OutboxMessage,
    Thread,
    ThreadMessage,
    WebhookDelivery,
)
from storage.repo.draft_intake import Card
from storage.repo.events import _INSERT as INSERT_EVENT
from storage.repo.thread_intake import ClientMessage
from storage.repo.webhook_deliveries import BODY_DEDUP_WINDOW
from storage.types import utcnow

_T, _M, _D = Thread.__table__, ThreadMessage.__table__, Draft.__table__
_S, _W, _O = CitizenSession.__table__, WebhookDelivery.__table__, OutboxMessage.__table__


class Superseding(Exception):
    """The thread has pending drafts: the reply must go through the ORM path."""


@dataclass(frozen=True)
class Stored:
    thread_id: str
    session_id: str


_SEEN_ID = HotStatement(select(_W.c.id).where(_W.c.webhook_id == bindparam("webhook_id")).limit(1))
_SEEN_BODY = HotStatement(
    select(_W.c.id)
    .where(_W.c.body_hash == bindparam("body_hash"), _W.c.received_at >= bindparam("since"))
    .limit(1)
)
_LOCK_BODY = HotStatement(select(func.pg_advisory_xact_lock(bindparam("lock_key"))))
_THREAD = select(_T.c.id, _T.c.platform).order_by(_T.c.last_message_at.desc(), _T.c.id.desc())
_BY_KEY = HotStatement(_THREAD.where(_T.c.external_key == bindparam("key")).with_for_update())
_BY_LINK = HotStatement(
    _THREAD.where(_T.c.job_link == bindparam("job_link")).limit(1).with_for_update()
)
_BY_CLIENT_TITLE = HotStatement(
    _THREAD.where(
        func.lower(_T.c.client) == func.lower(bindparam("client")),
        func.lower(_T.c.job_title) == func.lower(bindparam("job_title")),
    )
    .limit(1)
    .with_for_update()
)
_BY_CLIENT_UNTITLED = HotStatement(
    _THREAD.where(
        func.lower(_T.c.client) == func.lower(bindparam("client")), _T.c.job_title.is_(None)
    )
    .limit(1)
    .with_for_update()
)
_NEW_THREAD = HotStatement(
    insert(_T).values(
        id=bindparam("thread_id"),
        platform=bindparam("platform"),
        client=bindparam("client"),
        job_title=bindparam("job_title"),
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
        job_link=func.coalesce(_T.c.job_link, bindparam("new_link")),
        external_key=func.coalesce(_T.c.external_key, bindparam("new_key")),
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
_PENDING = HotStatement(
    select(literal(True, Boolean))
    .where(_D.c.thread_id == bindparam("thread_id"), _D.c.status == "pending")
    .limit(1)
)
_SESSION = HotStatement(
    insert(_S).values(
        id=bindparam("session_id"),
        citizen=bindparam("citizen"),
        trigger=bindparam("trigger"),
        prompt=bindparam("prompt"),
        status="queued",
        thread_id=bindparam("thread_id"),
        created_at=bindparam("now"),
        notice_outbox_id=bindparam("notice_outbox_id"),
    )
)
_NOTICE = HotStatement(
    insert(_O)
    .values(
        chat_id=bindparam("chat_id"),
        text=bindparam("text"),
        thread_id=bindparam("thread_id"),
        status="pending",
        attempts=0,
        silent=False,
        next_attempt_at=bindparam("now"),
        created_at=bindparam("now"),
    )
    .returning(_O.c.id)
)
"""The operator's message about the client's message: the session's notice (CONTRACT §14)."""
_DELIVERY = HotStatement(
    insert(_W).values(
        webhook_id=bindparam("webhook_id"),
        body_hash=bindparam("body_hash"),
        route=bindparam("route"),
        session_id=bindparam("session_id"),
        received_at=bindparam("now"),
    )
)
_EVENT = HotStatement(INSERT_EVENT)


async def _event(fetch: Fetch, name: str, now: datetime, payload: dict[str, Any]) -> None:
    await fetch(_EVENT, {"event": name, "timestamp": now, "payload": payload})


async def receive(
    *,
    hot: HotPath,
    incoming: ClientMessage,
    citizen: str,
    trigger: str,
    prompt: str,
    received: dict[str, Any],
    webhook_id: str | None,
    label: str | None,
    body_hash: str,
    route: str,
    notice: Card | None = None,
) -> Stored | None:
    """Store the reply, its session and its delivery in one transaction; None when the
    delivery was seen before. Raises `Superseding` (nothing stored) when the thread has
    pending drafts, and IntegrityError when a concurrent twin or thread won a race. `notice`
    is queued to the operator as the session's notice."""
    now = utcnow()
    session_id = str(uuid.uuid4())
    async with hot.transaction() as fetch:
        if webhook_id is not None:
            if await fetch(_SEEN_ID, {"webhook_id": webhook_id}):
                return None
        else:
            if hot.on_asyncpg:
                key = int.from_bytes(bytes.fromhex(body_hash[:16]), "big", signed=True)
                await fetch(_LOCK_BODY, {"lock_key": key})
            since = now - BODY_DEDUP_WINDOW
            if await fetch(_SEEN_BODY, {"body_hash": body_hash, "since": since}):
                return None
        found = await _find(fetch, incoming)
        if found is None:
            thread_id, platform = str(uuid.uuid4()), incoming.platform.lower()
            await fetch(
                _NEW_THREAD,
                {
                    "thread_id": thread_id,
                    "platform": platform,
                    "client": incoming.client,
                    "job_title": incoming.job_title,
                    "job_link": incoming.job_link,
                    "key": incoming.key,
                    "now": now,
                },
            )
        else:
            thread_id, platform = found
            if await fetch(_PENDING, {"thread_id": thread_id}):
                raise Superseding(thread_id)
            await fetch(
                _JOIN_THREAD,
                {
                    "thread_id": thread_id,
                    "new_title": incoming.job_title,
                    "new_link": incoming.job_link,
                    "new_key": incoming.key,
                    "now": now,
                },
            )
        await fetch(_MESSAGE, {"thread_id": thread_id, "text": incoming.message, "now": now})
        await _event(
            fetch,
            "thread.message.received@1.0",
            now,
            {
                "thread_id": thread_id,
                "client": incoming.client,
                "platform": platform,
                "new_thread": found is None,
                "message_chars": len(incoming.message),
            },
        )
        notice_id = None
        if notice is not None:
            rows = await fetch(
                _NOTICE,
                {
                    "chat_id": notice.chat_id,
                    "text": notice.text,
                    "thread_id": thread_id,
                    "now": now,
                },
            )
            notice_id = rows[0][0]
        await fetch(
            _SESSION,
            {
                "notice_outbox_id": notice_id,
                "session_id": session_id,
                "citizen": citizen,
                "trigger": trigger,
                "prompt": prompt,
                "thread_id": thread_id,
                "now": now,
            },
        )
        await _event(
            fetch,
            "citizen.session.queued@1.0",
            now,
            {"session_id": session_id, "citizen": citizen, "trigger": trigger},
        )
        await _event(
            fetch,
            "upwork.response.received@1.0",
            now,
            {
                **received,
                "thread_id": thread_id,
                "session_id": session_id,
                "webhook_id": webhook_id or label,
            },
        )
        await fetch(
            _DELIVERY,
            {
                "webhook_id": webhook_id,
                "body_hash": body_hash,
                "route": route,
                "session_id": session_id,
                "now": now,
            },
        )
    return Stored(thread_id, session_id)


async def _find(fetch: Fetch, incoming: ClientMessage) -> tuple[str, str] | None:
    """As `thread_intake.find`: by the sender's key, the job link, then client and title."""
    if incoming.key is not None:
        rows = await fetch(_BY_KEY, {"key": incoming.key})
        if rows:
            return rows[0][0], rows[0][1]
    if incoming.job_link is not None:
        rows = await fetch(_BY_LINK, {"job_link": incoming.job_link})
        if rows:
            return rows[0][0], rows[0][1]
    if incoming.job_title is None:
        rows = await fetch(_BY_CLIENT_UNTITLED, {"client": incoming.client})
    else:
        params = {"client": incoming.client, "job_title": incoming.job_title}
        rows = await fetch(_BY_CLIENT_TITLE, params)
    return (rows[0][0], rows[0][1]) if rows else None
