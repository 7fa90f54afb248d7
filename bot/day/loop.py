"""The operator's clock ticking: reminders of waiting clients and the daily digest.

Both are claimed in the database (a draft's `reminded_at`, a day's `digests` row) in the same
transaction as the message they queue, so each is sent once however many processes run, and
one missed while the service was down is sent when it starts (a digest only if it is still
that day).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.day.clock import local
from bot.day.digest import digest_text
from bot.settings import Settings
from bot.telegram import waiting
from bot.telegram.render import esc
from citizens.figures import waited
from storage.loops import Loop
from storage.repo import digests, inbox, outbox, reminders, stats, thread_waits
from storage.repo.reminders import Due
from storage.types import utcnow

log = logging.getLogger(__name__)


class OperatorDay:
    def __init__(
        self,
        settings: Settings,
        db: async_sessionmaker[AsyncSession],
        *,
        kick: Callable[[], None],
        tick_s: float,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._settings = settings
        self._db = db
        self._kick = kick
        self._clock = clock
        # The claim queues what is due (claimed in the database with its message), the
        # handler wakes the sender. A failed tick (the database may be down for a while) is
        # tried again at the next.
        self.loop: Loop[bool] = Loop(
            "operator-day", claim=self._queue_due, handle=self._queued, every=tick_s
        )

    async def tick(self) -> None:
        """One round by hand: queue what is due and wake the sender."""
        if await self._queue_due():
            await self._queued(True)

    async def _queue_due(self) -> bool:
        """Queue the reminders and the digest due now; True if any was queued."""
        now = self._clock()
        queued = await self.remind(now)
        queued |= await self.send_digest(now)
        return queued

    async def _queued(self, _queued: bool) -> None:
        self._kick()

    async def remind(self, now: datetime) -> bool:
        """One reminder, a reply to its card, per pending draft whose client waits too long;
        and one, a reply to the thread's latest message, per thread whose client waits that
        long with no pending draft (once each time the client begins to wait)."""
        settings, chat_id = self._settings, self._settings.telegram_chat_id
        if settings.remind_after_s <= 0 or chat_id is None:
            return False
        waited_before = now - timedelta(seconds=settings.remind_after_s)
        async with self._db() as session, session.begin():
            due = await reminders.claim_due(session=session, waited_before=waited_before, now=now)
            for item in due:
                await outbox.enqueue(
                    session=session,
                    chat_id=chat_id,
                    text=reminder_text(item, now),
                    reply_to_message_id=item.draft.telegram_message_id,
                    thread_id=item.draft.thread_id,
                )
            left = await thread_waits.claim_reminders(
                session=session, waited_before=waited_before, now=now
            )
            for thread in left:
                found = await thread_waits.waiting_one(session=session, thread=thread)
                text, markup = waiting.reminder(found, now)
                await outbox.enqueue(
                    session=session,
                    chat_id=chat_id,
                    text=text,
                    reply_markup=markup,
                    reply_to_message_id=await outbox.latest_about(
                        session=session, chat_id=chat_id, thread_id=thread.id
                    ),
                    thread_id=thread.id,
                )
        return bool(due or left)

    async def send_digest(self, now: datetime) -> bool:
        """Today's digest, once `DIGEST_AT` has passed, if nobody has sent it yet."""
        settings, chat_id = self._settings, self._settings.telegram_chat_id
        at = settings.digest_time
        today = local(settings, now)
        if at is None or chat_id is None or today.time() < at:
            return False
        async with self._db() as session, session.begin():
            if not await digests.claim(session=session, day=today.date().isoformat()):
                return False
            numbers = await stats.of_day(
                session=session, day=today.date() - timedelta(days=1), tz=settings.tz
            )
            waiting = await inbox.pending(session=session)
            left = await thread_waits.without_draft(session=session)
            text = digest_text(numbers, waiting, now, today.date(), left)
            await outbox.enqueue(session=session, chat_id=chat_id, text=text)
        log.info("digest of %s queued", today.date())
        return True


def reminder_text(item: Due, now: datetime) -> str:
    return (
        f"⏰ <b>{esc(item.draft.client)}</b> has waited {waited(item.waiting_since, now)}"
        f" · {esc(item.draft.job_title)}"
    )
