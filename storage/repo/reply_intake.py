"""A signed webhook's delivery stored as one transaction: the delivery unless seen before,
for a client's reply the message in its thread (storage/repo/thread_intake.py), the session
it queues, its notice (queued by the outbox's one statement, storage/repo/outbox.py `QUEUE`),
their events, and the wake-up of the processes waiting for sessions (storage/wakeups.py: it
is sent when the transaction commits).

The one way both webhooks store what they receive. Its statements are Core compiled once, on
PostgreSQL run on the asyncpg driver (storage/hotpath.py): each costs the server less than
SQLAlchemy's session would spend on it (`python -m bench --only webhook` measures it).
The events' payloads are bounded by the webhook's field limits, far under the log's cap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from storage import wakeups
from storage.hotpath import HotPath
from storage.locks import hold
from storage.repo import citizen_queue, events, outbox, thread_intake, webhook_deliveries
from storage.repo.draft_intake import Card
from storage.repo.thread_intake import ClientMessage
from storage.repo.webhook_deliveries import Delivery
from storage.types import utcnow


@dataclass(frozen=True)
class Stored:
    session_id: str
    thread_id: str | None = None
    superseded: Sequence[str] = field(default_factory=tuple)
    """Drafts the reply superseded: their cards must be brought up to date."""


async def receive(
    *,
    hot: HotPath,
    delivery: Delivery,
    label: str | None,
    citizen: str,
    trigger: str,
    prompt: str,
    reply: ClientMessage | None = None,
    received: dict[str, Any] | None = None,
    notice: Card | None = None,
) -> Stored | None:
    """Store the delivery and queue its session in one transaction; None when it was seen
    before. With `reply`, the message joins its thread first and `received` (what the
    webhook got) is logged as `upwork.response.received@1.0`, and `notice` (the operator's
    message about it) is queued as the session's notice. IntegrityError: a concurrent twin
    with the same signed id won the race."""
    now = utcnow()
    async with hot.transaction() as fetch:
        # Every lock in one round trip: the delivery's, and the names of the reply's thread.
        names = webhook_deliveries.lock_names(delivery)
        if reply is not None:
            names += thread_intake.lock_names(reply)
        await hold(fetch, hot.on_asyncpg, names)
        if await webhook_deliveries.seen(fetch, delivery=delivery, now=now):
            return None
        joined = None
        if reply is not None:
            joined = await thread_intake.receive(fetch, incoming=reply, now=now)
        thread_id = None if joined is None else joined.thread_id
        notice_id = None
        if notice is not None and thread_id is not None:
            # The operator's message about the client's message: the session's notice (§14).
            queued = outbox.queued(
                chat_id=notice.chat_id, text=notice.text, now=now, thread_id=thread_id
            )
            notice_id = (await fetch(outbox.QUEUE, queued))[0][0]
        params, payload = citizen_queue.queued(
            citizen=citizen,
            trigger=trigger,
            prompt=prompt,
            now=now,
            thread_id=thread_id,
            notice_outbox_id=notice_id,
        )
        session_id = params["session_id"]
        await fetch(citizen_queue.QUEUE, params)
        # A `scopelock worker` waiting for sessions looks at once, not at its next poll.
        await wakeups.notify_with(fetch, hot.on_asyncpg, wakeups.SESSIONS)
        await events.append_with(fetch, event=citizen_queue.QUEUED_EVENT, now=now, payload=payload)
        if received is not None:
            await events.append_with(
                fetch,
                event="upwork.response.received@1.0",
                now=now,
                payload={
                    **received,
                    "thread_id": thread_id,
                    "session_id": session_id,
                    "webhook_id": delivery.webhook_id or label,
                },
            )
        await webhook_deliveries.record(fetch, delivery=delivery, session_id=session_id, now=now)
    if joined is None:
        return Stored(session_id)
    return Stored(session_id, joined.thread_id, joined.superseded)


async def seen_before(*, hot: HotPath, delivery: Delivery) -> bool:
    """Was the delivery stored by now (by a concurrent twin that won the race)?"""
    async with hot.transaction() as fetch:
        return await webhook_deliveries.seen(fetch, delivery=delivery, now=utcnow())
