"""Signed webhook deliveries already acted on, so a replayed delivery launches nothing
(CONTRACT §4), as statements of a caller's `HotPath.transaction()`.

A delivery is recorded in the same transaction as the session it queues: when that
transaction fails, the delivery stays unseen and a retry (Zapier's auto-replay) goes through.

"Seen": the same signed id ever, or else the same signed bytes within 24 h, as CONTRACT §4
defines it. A timestamped signature is refused 300 s after its time, so 24 h of memory covers
its replays. A signature without a timestamp never goes stale: the same bytes a day later are
a new delivery (a script that sends the same text every day must get its session), so whoever
captured such a request could replay it after 24 h. Senders that can sign a timestamp
(`X-Webhook-Timestamp`, or Standard Webhooks as the Zapier step does) are not exposed; the
README says so. `timestamped` records which kind each delivery was.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, insert, select

from storage.hotpath import Fetch, HotStatement
from storage.locks import Name
from storage.models import WebhookDelivery

BODY_DEDUP_WINDOW = timedelta(hours=24)
_W = WebhookDelivery.__table__


@dataclass(frozen=True)
class Delivery:
    """What identifies a delivery: its signed id (Standard Webhooks), else the hash of exactly
    the bytes its signature covers, and whether those include a timestamp."""

    webhook_id: str | None
    body_hash: str
    timestamped: bool
    route: str


_SEEN_ID = HotStatement(select(_W.c.id).where(_W.c.webhook_id == bindparam("webhook_id")).limit(1))
_SEEN_BODY = HotStatement(
    select(_W.c.id)
    .where(
        _W.c.body_hash == bindparam("body_hash"),
        _W.c.received_at >= bindparam("since"),
    )
    .limit(1)
)
_RECORD = HotStatement(
    insert(_W).values(
        webhook_id=bindparam("webhook_id"),
        body_hash=bindparam("body_hash"),
        timestamped=bindparam("timestamped"),
        route=bindparam("route"),
        session_id=bindparam("session_id"),
        received_at=bindparam("now"),
    )
)


def lock_names(delivery: Delivery) -> list[Name]:
    """What to hold (storage/locks.py) before `seen`: without an id, the body hash, so two
    identical concurrent deliveries launch once. With an id, the unique constraint settles
    the race at `record` (IntegrityError)."""
    return [] if delivery.webhook_id is not None else [("webhook-body", delivery.body_hash)]


async def seen(fetch: Fetch, *, delivery: Delivery, now: datetime) -> bool:
    """Was this delivery acted on? Call it in the transaction that will `record` it, holding
    its `lock_names`."""
    if delivery.webhook_id is not None:
        return bool(await fetch(_SEEN_ID, {"webhook_id": delivery.webhook_id}))
    since = now - BODY_DEDUP_WINDOW
    return bool(await fetch(_SEEN_BODY, {"body_hash": delivery.body_hash, "since": since}))


async def record(fetch: Fetch, *, delivery: Delivery, session_id: str, now: datetime) -> None:
    """Remember the delivery; a concurrent twin with the same id fails with IntegrityError."""
    await fetch(
        _RECORD,
        {
            "webhook_id": delivery.webhook_id,
            "body_hash": delivery.body_hash,
            "timestamped": delivery.timestamped,
            "route": delivery.route,
            "session_id": session_id,
            "now": now,
        },
    )
