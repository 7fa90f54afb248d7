"""The scheduler: a small background task that queues the sessions schedules ask for.

The database is the only state. Each tick reads the due schedules and claims each one by
moving its `next_run_at` on in a conditional UPDATE; the winner queues the session and writes
`schedule.fired@1.0` in that same transaction. So a time fires once however many instances
poll one database, and nothing is lost or repeated across a restart. A time missed while the
service was down fires once at start if it is less than an hour old (citizens.cron.due_time).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from citizens import cron, prompts
from citizens.config import CitizenSettings
from storage.loops import Loop
from storage.models import Schedule
from storage.repo import citizen_queue, events, schedules
from storage.types import utcnow

log = logging.getLogger(__name__)

POLL_S = 15.0
"""The longest sleep between ticks (a schedule added elsewhere is seen within this)."""


class Scheduler:
    def __init__(
        self,
        settings: CitizenSettings,
        db: async_sessionmaker[AsyncSession],
        *,
        wake: Callable[[], None] = lambda: None,
        now: Callable[[], datetime] = utcnow,
        poll_s: float = POLL_S,
    ) -> None:
        self.settings = settings
        self.db = db
        self.wake_runner = wake
        """Called once sessions were queued: the session runner starts them."""
        self.now = now
        self.poll_s = poll_s
        # The claim fires what is due (each schedule claimed with its session, in one
        # transaction), the handler wakes the runner. A failed claim (the database may be
        # down) is tried again a poll later.
        self.loop: Loop[list[str]] = Loop(
            "scheduler",
            claim=self._fire_due,
            handle=self._queued,
            every=poll_s,
            idle=self._until_next,
        )

    def start(self) -> None:
        self.loop.start()

    async def stop(self) -> None:
        await self.loop.stop()

    async def tick(self) -> list[str]:
        """One round by hand: fire every due schedule this process wins and wake the runner;
        the ids of the sessions it queued."""
        queued = await self._fire_due()
        if queued:
            await self._queued(queued)
        return queued

    async def _fire_due(self) -> list[str]:
        now = self.now()
        async with self.db() as session:
            due = list(await schedules.due(session=session, now=now))
        return [sid for row in due if (sid := await self._fire(row, now)) is not None]

    async def _queued(self, _session_ids: list[str]) -> None:
        self.wake_runner()

    async def _until_next(self) -> float:
        """The seconds until the next time (at most a poll)."""
        async with self.db() as session:
            soonest = await schedules.earliest(session=session)
        # A time still due could not be fired: wait a whole poll.
        if soonest is not None and soonest > self.now():
            return min(self.poll_s, (soonest - self.now()).total_seconds())
        return self.poll_s

    async def _fire(self, row: Schedule, now: datetime) -> str | None:
        assert row.id is not None
        tz = self.settings.tz
        try:
            when = cron.due_time(row.cron, row.next_run_at, now, tz)
            following = cron.next_after(row.cron, now, tz)
        except Exception:  # an expression this cronsim no longer reads: leave the row alone
            log.exception("schedule %s has an unreadable cron expression %r", row.id, row.cron)
            return None
        async with self.db() as session, session.begin():
            won = await schedules.claim(
                session=session,
                schedule_id=row.id,
                seen_next_run_at=row.next_run_at,
                next_run_at=following,
                fired_at=now if when is not None else None,
            )
            if not won or when is None:
                if won:
                    log.info("schedule %s skipped times missed over an hour ago", row.id)
                return None
            queued = await citizen_queue.enqueue(
                session=session,
                citizen=row.citizen,
                trigger="schedule",
                prompt=prompts.operator_task(
                    message=row.message, source=f"schedule #{row.id} ({row.cron})"
                ),
            )
            await schedules.record_session(
                session=session, schedule_id=row.id, session_id=queued.id
            )
            await events.append(
                session=session,
                event="schedule.fired@1.0",
                payload={
                    "schedule_id": row.id,
                    "citizen": row.citizen,
                    "cron": row.cron,
                    "scheduled_for": when.isoformat().replace("+00:00", "Z"),
                    "session_id": queued.id,
                },
            )
        log.info("schedule %s fired for %s: session %s", row.id, when, queued.id)
        return queued.id
