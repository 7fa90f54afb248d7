"""The delivery worker: POSTs each queued delivery until the receiver takes it or time is up.

A 2xx marks the draft sent (`delivery.succeeded@1.0`, `draft.sent@1.0`, the reply joins its
thread), in one transaction. Anything else is retried after the tuning's growing waits, never
sooner than the receiver's `Retry-After`, for `give_up_after_s` (a day); a 410 ends it at
once. Then `delivery.failed@1.0`, and the card offers `redeliver:<draft_id>`. Every change is
shown on the draft's card. Attempts happen only on claimed rows (storage/repo/deliveries.py),
so several processes on one database never make the same attempt twice.

The secret never leaves `signing`: log lines name the delivery, never the URL's path or query
(which may carry a token of its own), and never a header.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import aiohttp
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.delivery.payload import delivery_body
from bot.delivery.signing import retry_after_s, signed_headers
from bot.delivery.tuning import DeliveryTuning
from bot.settings import Settings
from bot.telegram.card_upkeep import show_delivery_on_card
from storage.engine import session_factory
from storage.loops import Loop, doubling
from storage.models import Delivery
from storage.repo import deliveries, draft_actions, events
from storage.repo.draft_actions import Actor
from storage.types import utcnow

log = logging.getLogger(__name__)

DELIVERY_ACTOR = Actor(0, "delivery", via="delivery")
"""Who marks a delivered reply sent: the delivery webhook, not a person."""

GONE = 410


@dataclass(frozen=True)
class Outcome:
    """What one attempt got: the HTTP status (None: no answer), why it failed, `Retry-After`."""

    status: int | None
    error: str | None = None
    retry_after_s: float | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class DeliveryWorker:
    def __init__(
        self,
        settings: Settings,
        engine: AsyncEngine,
        tuning: DeliveryTuning | None = None,
        *,
        card_queued: Callable[[], None] = lambda: None,
    ) -> None:
        assert settings.delivery_webhook_url is not None
        key = settings.delivery_key
        assert key is not None, "DELIVERY_WEBHOOK_URL needs DELIVERY_WEBHOOK_SECRET"
        self._settings = settings
        self._url = settings.delivery_webhook_url
        self._key = key
        self._db: async_sessionmaker[AsyncSession] = session_factory(engine)
        self._tuning = tuning or DeliveryTuning()
        self.card_queued = card_queued
        """Called after a commit that queued a card edit (the Telegram notifier's `kick`)."""
        self.worker = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.loop: Loop[list[Delivery]] = Loop(
            "delivery-worker",
            claim=self._claim,
            handle=self._deliver_all,
            every=self._tuning.idle_check_s,
            idle=self._idle_wait,
            grace_s=self._tuning.shutdown_grace_s,
            backoff=doubling(0.2, self._tuning.idle_check_s),
        )
        self._http: aiohttp.ClientSession | None = None
        self.target = _host_and_port(self._url)
        """Where deliveries go, as logs may name it: no user:password@, path or query."""

    def start(self) -> None:
        """Take deliveries from now on: approvals queue them, and the worker sends them."""
        self._http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self._tuning.request_timeout_s)
        )
        self.loop.start()
        log.info("approved replies are delivered to %s", self.target)

    def kick(self) -> None:
        self.loop.kick()

    async def __aenter__(self) -> DeliveryWorker:
        self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    async def stop(self) -> None:
        """Stop; attempts in flight get a short grace; unfinished claims are handed back."""
        await self.loop.stop()
        if self._http is not None:
            await self._http.close()
        try:
            async with self._db() as session, session.begin():
                await deliveries.release_claims(session=session, worker=self.worker)
        except Exception as error:  # their leases run out on their own
            log.warning("could not hand back delivery claims: %s", type(error).__name__)

    async def _claim(self) -> list[Delivery]:
        async with self._db() as session, session.begin():
            return list(
                await deliveries.claim(
                    session=session,
                    worker=self.worker,
                    lease=self._tuning.lease,
                    limit=self._tuning.batch,
                )
            )

    async def _deliver_all(self, rows: list[Delivery]) -> None:
        # Shielded: a stop must not cut an attempt off between the POST and its record.
        attempts = asyncio.gather(*(self._deliver(row) for row in rows), return_exceptions=True)
        for result in await asyncio.shield(attempts):
            if isinstance(result, Exception):
                raise result  # its claim runs out, and the loop backs off meanwhile

    async def _idle_wait(self) -> float:
        async with self._db() as session:
            due = await deliveries.next_due_at(session=session)
        wait = self._tuning.idle_check_s
        if due is not None:
            wait = min(wait, (due - utcnow()).total_seconds())
        return max(wait, 0.005)

    async def _deliver(self, row: Delivery) -> None:
        assert row.id is not None
        body = row.body
        if body is None:
            async with self._db() as session, session.begin():
                built = await delivery_body(session=session, draft_id=row.draft_id)
                body = await deliveries.set_body(
                    session=session, delivery_id=row.id, body=built or "{}"
                )
        outcome = await self._post(row.webhook_id, body)
        async with self._db() as session, session.begin():
            shown = await self._record(session, row, outcome)
        if shown:
            self.card_queued()

    async def _post(self, webhook_id: str, body: str) -> Outcome:
        assert self._http is not None
        headers = signed_headers(self._key, webhook_id, body, utcnow())
        try:
            async with self._http.post(
                self._url, data=body.encode(), headers=headers, allow_redirects=False
            ) as response:
                wait = retry_after_s(response.headers.get("Retry-After"), utcnow())
                reason = f"HTTP {response.status}" + (
                    f" {response.reason}" if response.reason else ""
                )
                return Outcome(response.status, None if response.ok else reason, wait)
        except TimeoutError:
            return Outcome(None, f"no answer within {self._tuning.request_timeout_s:g}s")
        except aiohttp.ClientError as error:
            return Outcome(None, f"could not reach the receiver ({type(error).__name__})")

    async def _record(self, session: AsyncSession, row: Delivery, outcome: Outcome) -> bool:
        """Store the attempt's outcome with its consequences; True if the card was updated."""
        assert row.id is not None
        what = {"draft_id": row.draft_id, "delivery_id": row.id, "webhook_id": row.webhook_id}
        next_at = None if outcome.ok else self._next_attempt_at(row, outcome)
        if outcome.ok:
            done = await deliveries.finish(
                session=session,
                delivery_id=row.id,
                worker=self.worker,
                status="succeeded",
                http_status=outcome.status,
                error=None,
            )
            if done is None:
                return False
            await events.append(
                session=session,
                event="delivery.succeeded@1.0",
                payload={**what, "status": outcome.status, "attempts": done.attempts},
            )
            await draft_actions.mark_sent(
                session=session, draft_id=row.draft_id, actor=DELIVERY_ACTOR
            )
            log.info("delivered draft %s (attempt %s)", row.draft_id, done.attempts)
        elif next_at is None:
            done = await deliveries.finish(
                session=session,
                delivery_id=row.id,
                worker=self.worker,
                status="failed",
                http_status=outcome.status,
                error=outcome.error,
            )
            if done is None:
                return False
            await events.append(
                session=session,
                event="delivery.failed@1.0",
                payload={
                    **what,
                    "status": outcome.status,
                    "error": outcome.error,
                    "attempts": done.attempts,
                },
            )
            log.warning(
                "gave up delivering draft %s after %s attempts: %s",
                row.draft_id,
                done.attempts,
                outcome.error,
            )
        else:
            done = await deliveries.reschedule(
                session=session,
                delivery_id=row.id,
                worker=self.worker,
                next_attempt_at=next_at,
                http_status=outcome.status,
                error=outcome.error or "failed",
            )
            if done is None:
                return False
            log.warning(
                "delivery of draft %s failed (attempt %s): %s; retrying at %s",
                row.draft_id,
                done.attempts,
                outcome.error,
                next_at.isoformat(),
            )
        return await show_delivery_on_card(
            session=session, settings=self._settings, draft_id=row.draft_id
        )

    def _next_attempt_at(self, row: Delivery, outcome: Outcome) -> datetime | None:
        """When to try again; None when this failure is final (410, or the day is over)."""
        if outcome.status == GONE:
            return None
        now = utcnow()
        deadline = row.created_at + timedelta(seconds=self._tuning.give_up_after_s)
        if now >= deadline:
            return None
        earliest = now + timedelta(seconds=outcome.retry_after_s or 0)
        if earliest > deadline:
            return None  # the receiver asks us to wait past the end
        wait = timedelta(seconds=self._tuning.wait_after(row.attempts + 1))
        return min(max(now + wait, earliest), deadline)


def _host_and_port(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return host if parts.port is None else f"{host}:{parts.port}"
