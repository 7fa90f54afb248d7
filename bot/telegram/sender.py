"""The outbox sender: delivers every queued operator message once, whatever Telegram does.

The sender claims due rows with a lease (see storage/repo/outbox.py): a chat's oldest pending
message and those queued behind it, which it sends one after another, in order, each once
Telegram has answered the one before. So each chat gets its messages in the order they were
queued, however many processes send, and a burst costs one claim, not one per message.
Telegram's message ids are recorded in batches while the sends go on (one statement for all
that were sent while the last batch was written); a message that edits or replies to one
sent just before finds that one's id in memory, and the next claim waits until everything
sent is recorded. A request that queued a message waits for it here, for a short while
(`deliver`). 5xx answers, timeouts and connection errors are retried with exponential
backoff; a 429 pauses all sending for its `retry_after`. A message Telegram will never take
(400/403), or one Telegram answered with an error `max_attempts` times while it otherwise
works (getMe answers), is dead-lettered (status `failed`, logged): the chat's later messages
then go on, and /health says "degraded" for a day. Failures without an answer (refused
connections, timeouts) and 429s never count: while Telegram is unreachable nothing is given
up. Sends are paced within Telegram's flood limits (tuning: per private chat, per group,
overall) rather than only reacting to 429s. A send is never cancelled because a caller
stopped waiting: when Telegram answers late, the answer is still recorded, so the
slow-but-delivered case does not lead to a second copy. Delivery is at least once: a
process that dies after a send and before its record leaves the row claimed, and it is sent
again when the lease runs out. In a forum chat, a message about a client thread goes to that
thread's topic, the answer to a command to the topic it was typed in (bot/telegram/topics.py).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
import warnings
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import ReplyParameters
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError, TimedOut
from telegram.ext import ExtBot
from telegram.request import RequestData
from telegram.request._requestparameter import RequestParameter  # what RequestData holds
from telegram.warnings import PTBDeprecationWarning
from tenacity import AsyncRetrying, stop_after_delay, wait_exponential

from bot.telegram.aiohttp_request import NoAnswer
from bot.telegram.topics import ForumTopics, lost_topic
from bot.telegram.tuning import TelegramTuning
from storage.hotpath import HotPath
from storage.loops import Loop
from storage.models import OutboxMessage
from storage.repo import outbox
from storage.types import utcnow

log = logging.getLogger(__name__)

CHATS_PER_CLAIM = 10
MAX_RUN_PER_CHAT = 256
"""At most this many of one chat's messages per claim: a burst goes out on a few claims."""


def run_per_chat(tuning: TelegramTuning) -> int:
    """How many of one chat's messages a claim takes: as many as pacing lets out within the
    claim's window (a private chat's pace; more would only be handed back), all there are
    up to `MAX_RUN_PER_CHAT` when sends are unpaced. Every claim is a transaction on a
    loop that is busy with the requests that queue the messages: a webhook burst's messages
    reached the fake Bot API 1.2-1.5 s after the load with 32 a claim, 0.6-1.1 s with more
    (bench/, `POST /webhook/upwork-response`)."""
    if tuning.chat_interval_s <= 0:
        return MAX_RUN_PER_CHAT
    return max(1, min(MAX_RUN_PER_CHAT, int(tuning.claim_window_s / tuning.chat_interval_s) + 1))


@dataclass(frozen=True)
class Claimed:
    """What one claim took: each chat's run of messages, and the loop time to send them by."""

    send_by: float
    runs: list[list[OutboxMessage]]


class OutboxSender:
    def __init__(
        self,
        bot: ExtBot[Any],
        db: async_sessionmaker[AsyncSession],
        hot: HotPath,
        tuning: TelegramTuning,
        *,
        quiet: Callable[[], bool] = lambda: False,
    ) -> None:
        """`quiet()` says whether it is quiet hours now: messages then arrive silently."""
        self._bot = bot
        self._db = db
        self._hot = hot
        self._tuning = tuning
        self._quiet = quiet
        self.worker = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.failing = False
        """The last attempt failed and something is still waiting: /health says degraded."""
        self._paused_until = 0.0
        self._waiters: dict[int, asyncio.Future[bool]] = {}
        """Requests waiting for their message: resolved True once it is sent and recorded."""
        self._sends: set[asyncio.Task[None]] = set()
        self.loop: Loop[Claimed] = Loop(
            "outbox-sender",
            claim=self._claim,
            handle=self._send_runs,
            every=tuning.idle_check_s,
            idle=self._idle_wait,
            grace_s=tuning.shutdown_grace_s,
            backoff=tuning.backoff_s,
            on_error=self._sweep_failed,
        )
        self._chat_free_at: dict[int, float] = {}
        """Pacing: the loop time from which each chat may get its next message."""
        self._free_at = 0.0
        """Pacing: the loop time from which the next message (to any chat) may go."""
        self._strikes: dict[int, int] = {}
        """Error answers per outbox id, in this process (a restart grants a few more tries)."""
        self._topics = ForumTopics(bot, db)
        self._unrecorded: list[tuple[OutboxMessage, int]] = []
        """Rows Telegram took, with the message id each became, not yet recorded."""
        self._sent_ids: dict[int, int] = {}
        """The message id of every row sent and not yet recorded, by outbox id."""
        self._recording: asyncio.Task[None] | None = None
        self.on_stale_card: Callable[[str], Awaitable[None]] | None = None
        """Called with a draft's id when its card was sent after the draft stopped being
        pending (decided while the card waited): that card must be brought up to date."""

    async def __aenter__(self) -> OutboxSender:
        self.loop.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    def kick(self) -> None:
        """Something was queued: look at the outbox now rather than at the next check."""
        self.loop.kick()

    async def deliver(self, outbox_id: int) -> bool:
        """Have `outbox_id` sent now; True once Telegram has it (within a short wait).

        The message stays queued after the wait ends; the sender sends it all the same.
        """
        self.kick()
        if self._paused() or self.loop.stopping:
            return False
        waiter = self._waiters.setdefault(outbox_id, asyncio.get_running_loop().create_future())
        try:
            return await asyncio.wait_for(
                asyncio.shield(waiter), timeout=self._tuning.deliver_wait_s
            )
        except TimeoutError:
            return False
        finally:
            if self._waiters.get(outbox_id) is waiter:
                del self._waiters[outbox_id]

    async def stop(self) -> None:
        """Stop claiming (storage/loops.py's rule); let sends in flight finish briefly; hand
        back unfinished claims."""
        await self.loop.stop()
        if self._sends:
            await asyncio.wait(set(self._sends), timeout=self._tuning.shutdown_grace_s)
            for task in self._sends:
                task.cancel()
            await asyncio.gather(*self._sends, return_exceptions=True)
        try:
            async with self._db() as session, session.begin():
                await outbox.release_claims(session=session, worker=self.worker)
        except Exception as error:  # the leases expire on their own
            log.warning("could not release outbox claims on stop: %s", type(error).__name__)

    # --- the sweep ---

    def _sweep_failed(self, _error: Exception) -> None:
        self.failing = True

    async def _claim(self) -> Claimed | None:
        """Claim due messages: each chat's run, in order, and the loop time to send them by."""
        if self._paused():
            return None
        # Rows may be sent only while their lease outlasts the longest send: the lease
        # starts within the claim, so the window is counted from before it.
        send_by = asyncio.get_running_loop().time() + self._tuning.claim_window_s
        async with self._db() as session, session.begin():
            rows = await outbox.claim(
                session=session,
                worker=self.worker,
                lease=self._tuning.lease,
                limit=CHATS_PER_CLAIM,
                run=run_per_chat(self._tuning),
            )
        if not rows:
            return None
        runs: dict[int, list[OutboxMessage]] = {}
        for row in rows:
            runs.setdefault(row.chat_id, []).append(row)
        return Claimed(send_by, list(runs.values()))

    async def _send_runs(self, claimed: Claimed) -> None:
        """Send the claimed runs side by side, each chat's in order."""
        sends = [self._spawn(self._send_run(run, claimed.send_by)) for run in claimed.runs]
        # Shielded: stopping the loop must not cut a send off mid-request.
        await asyncio.shield(asyncio.gather(*sends, return_exceptions=True))
        # A sent row stays its chat's head until it is recorded: claim after that.
        await self._recorded()

    async def _idle_wait(self) -> float:
        """Seconds until the next due message, at most the idle check interval."""
        wait = self._tuning.idle_check_s
        async with self._db() as session:
            due = await outbox.next_due_at(session=session)
        if due is None:
            self.failing = False
        else:
            wait = min(wait, max(0.0, (due - utcnow()).total_seconds()))
        return max(wait, self._paused_until - asyncio.get_running_loop().time(), 0.01)

    # --- one chat's run ---

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(coroutine)
        self._sends.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._sends.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.failing = True
            log.warning("outbox send failed: %s", task.exception())

    async def _send_run(self, run: list[OutboxMessage], send_by: float) -> None:
        """Send one chat's claimed messages in order; at the first that fails (or once the
        claim is too old, or the sender pauses or stops), hand back the rest unsent."""
        loop = asyncio.get_running_loop()
        for position, row in enumerate(run):
            slot = self._pace(row.chat_id)
            if self.loop.stopping or self._paused() or max(slot, loop.time()) > send_by:
                await self._release(run[position:])
                return
            if slot > loop.time():
                await asyncio.sleep(slot - loop.time())
            if not await self._send(row):
                await self._release(run[position + 1 :])
                return

    def _pace(self, chat_id: int) -> float:
        """Book the earliest loop time a message to `chat_id` may go out within the limits."""
        now = asyncio.get_running_loop().time()
        tuning = self._tuning
        slot = max(now, self._chat_free_at.get(chat_id, 0.0), self._free_at)
        per_chat = tuning.group_interval_s if chat_id < 0 else tuning.chat_interval_s
        self._chat_free_at[chat_id] = slot + per_chat
        self._free_at = slot + tuning.global_interval_s
        if len(self._chat_free_at) > 1000:
            self._chat_free_at = {c: t for c, t in self._chat_free_at.items() if t > now}
        return slot

    async def _release(self, rows: list[OutboxMessage]) -> None:
        if not rows:
            return
        for row in rows:
            self._settle(row, sent=False)
        try:
            async with self._db() as session, session.begin():
                await outbox.release_claims(
                    session=session, worker=self.worker, ids=[row.id or 0 for row in rows]
                )
        except Exception as error:  # their leases run out; the sweep retries then
            log.warning("could not hand back outbox claims: %s", type(error).__name__)
        self.kick()

    def _settle(self, row: OutboxMessage, *, sent: bool) -> None:
        """Tell a request waiting for `row` how it went."""
        waiter = self._waiters.pop(row.id or 0, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(sent)

    async def _send(self, row: OutboxMessage) -> bool:
        """Send one claimed message and have it recorded; True once Telegram took it."""
        try:
            message_id = await self._attempt(row)
        except BaseException:
            self._settle(row, sent=False)
            raise
        if message_id is None:
            self._settle(row, sent=False)
            return False
        self._strikes.pop(row.id or 0, None)
        self.failing = False
        self._record(row, message_id)
        return True

    async def _attempt(self, row: OutboxMessage) -> int | None:
        """Send (or edit) the row's message: the message id it became, or None after a
        failure (the row is rescheduled or dead-lettered)."""
        assert row.id is not None
        try:
            return await self._deliver_row(row)
        except RetryAfter as error:
            seconds = retry_after_seconds(error)
            self._paused_until = asyncio.get_running_loop().time() + seconds
            await self._retry(row, f"429: retry after {seconds:g}s", timedelta(seconds=seconds))
        except (BadRequest, Forbidden) as error:
            await self._dead_letter(row, f"refused for good: {error}")
        except TimedOut as error:
            # The request may have reached Telegram; its answer did not reach us in time.
            await self._retry(row, f"timed out ({error.__cause__!r}); may have been delivered")
        except TelegramError as error:
            answered = not isinstance(error, NoAnswer)
            await self._retry(row, f"{type(error).__name__}: {error}", strike=answered)
        return None

    # --- recording what Telegram took ---

    def _record(self, row: OutboxMessage, message_id: int) -> None:
        """Have `row` recorded as sent, with the next batch; the sends go on meanwhile."""
        self._unrecorded.append((row, message_id))
        self._sent_ids[row.id or 0] = message_id
        if self._recording is None or self._recording.done():
            self._recording = self._spawn(self._record_batches())

    async def _recorded(self) -> None:
        """Wait until every row sent so far is recorded (or its recording gave up)."""
        while self._recording is not None and not self._recording.done():
            await asyncio.wait({self._recording})

    async def _record_batches(self) -> None:
        """Record what was sent, a batch at a time, until nothing is left to record."""
        while self._unrecorded:
            batch, self._unrecorded = self._unrecorded, []
            try:
                marked = await self._mark_sent(batch)
            except Exception:
                # Still claimed: sent again once the lease runs out (at least once).
                for row, _ in batch:
                    self._sent_ids.pop(row.id or 0, None)
                    self._settle(row, sent=False)
                raise
            for row, _ in batch:
                self._sent_ids.pop(row.id or 0, None)
                self._settle(row, sent=True)
            for stale in marked:
                if stale.draft_id and stale.draft_status != "pending":
                    await self._stale_card(stale.draft_id)

    async def _mark_sent(self, batch: list[tuple[OutboxMessage, int]]) -> list[outbox.Marked]:
        """Telegram has these now: insist on recording that, or their lease would run out
        and they would be sent again."""
        sent = [outbox.Sent(row.id or 0, message_id, row.draft_id) for row, message_id in batch]
        async for attempt in AsyncRetrying(
            stop=stop_after_delay(self._tuning.lease.total_seconds() / 2),
            wait=wait_exponential(multiplier=0.1, max=5),
            reraise=True,
        ):
            with attempt:
                return await outbox.mark_sent(hot=self._hot, sent=sent)
        raise AssertionError("unreachable: tenacity reraises")

    async def _stale_card(self, draft_id: str) -> None:
        if self.on_stale_card is None:
            return
        try:
            await self.on_stale_card(draft_id)
        except Exception as error:  # the card stays stale until the draft's next change
            log.warning("could not update the late card of draft %s: %r", draft_id, error)
        self.kick()

    async def _deliver_row(self, row: OutboxMessage) -> int:
        """Send (or edit) the row's message; returns the id of the message it is now."""
        markup = {"reply_markup": row.reply_markup} if row.reply_markup else None
        edit_id, reply_id = await self._referenced(row)
        if edit_id is not None:
            try:
                await self._bot.edit_message_text(
                    chat_id=row.chat_id,
                    message_id=edit_id,
                    text=row.text,
                    parse_mode=ParseMode.HTML,
                    api_kwargs=markup,
                )
            except BadRequest as error:
                # Already showing exactly this (a copy edited twice): the edit has happened.
                if "not modified" not in str(error).lower():
                    raise
            return edit_id
        topic = await self._topics.topic_for(row)
        try:
            return await self._send_new(row, markup, reply_id, topic)
        except BadRequest as error:
            if topic is None or not lost_topic(error):
                raise
            # The topic was deleted: a thread's opens anew, a command's answer goes general.
            topic = await self._topics.after_lost(row)
            return await self._send_new(row, markup, None, topic)

    async def _send_new(
        self,
        row: OutboxMessage,
        markup: dict[str, Any] | None,
        reply_id: int | None,
        topic: int | None,
    ) -> int:
        """sendMessage, as `Bot.send_message` makes it (the bot's defaults, its request and
        its error mapping), reading only the new message's id from the answer: building the
        whole `Message` was a third of a send's time, paid for every client message the
        webhook takes (§14; bench/, `POST /webhook/upwork-response`)."""
        defaults = self._bot.defaults
        fields: dict[str, Any] = {
            "chat_id": row.chat_id,
            "text": row.text,
            "parse_mode": ParseMode.HTML,
            "link_preview_options": None if defaults is None else defaults.link_preview_options,
            "disable_notification": row.silent or self._quiet() or None,
            "reply_parameters": None
            if reply_id is None
            else ReplyParameters(reply_id, allow_sending_without_reply=True),
            "message_thread_id": topic,
            **(markup or {}),
        }
        answer = await self._bot.request.post(
            f"{self._bot.base_url}/sendMessage",
            RequestData(
                [RequestParameter.from_input(k, v) for k, v in fields.items() if v is not None]
            ),
        )
        return int(cast("dict[str, Any]", answer)["message_id"])

    async def _referenced(self, row: OutboxMessage) -> tuple[int | None, int | None]:
        """The message ids the row edits and replies to (by id, or by the outbox row)."""
        edit_id, reply_id = row.edit_message_id, row.reply_to_message_id
        if row.edit_outbox_id is not None:
            edit_id = await self._sent_message_id(row.edit_outbox_id)
        if row.reply_to_outbox_id is not None:
            reply_id = await self._sent_message_id(row.reply_to_outbox_id)
        return edit_id, reply_id

    async def _sent_message_id(self, outbox_id: int) -> int | None:
        """The message an outbox row became: sent just now (not recorded yet), or recorded."""
        if outbox_id in self._sent_ids:
            return self._sent_ids[outbox_id]
        async with self._db() as session:
            return await outbox.sent_message_id(session=session, outbox_id=outbox_id)

    async def _retry(
        self,
        row: OutboxMessage,
        error: str,
        delay: timedelta | None = None,
        *,
        strike: bool = False,
    ) -> None:
        """Try `row` again later; `strike`: Telegram answered with an error (it counts)."""
        assert row.id is not None
        self.failing = True
        attempts = row.attempts + 1  # this one included
        strikes = self._strikes[row.id] = self._strikes.get(row.id, 0) + strike
        if strike and strikes >= self._tuning.max_attempts and await self._reachable():
            await self._dead_letter(row, f"{strikes} error answers; last: {error}")
            return
        delay = delay or timedelta(seconds=self._tuning.backoff_s(attempts))
        log.warning(
            "outbox message %s not delivered (attempt %s): %s; retrying in %.1fs",
            row.id,
            attempts,
            error,
            delay.total_seconds(),
        )
        async with self._db() as session, session.begin():
            await outbox.reschedule(
                session=session, outbox_id=row.id, next_attempt_at=utcnow() + delay, error=error
            )
        self.kick()  # so the sweep wakes when this row falls due, not at its next idle check

    async def _dead_letter(self, row: OutboxMessage, error: str) -> None:
        """Give up on `row` so that its chat's later messages go on."""
        assert row.id is not None
        log.error("outbox message %s to chat %s dead-lettered: %s", row.id, row.chat_id, error)
        self._strikes.pop(row.id, None)
        async with self._db() as session, session.begin():
            await outbox.mark_failed(session=session, outbox_id=row.id, error=error)
        self.kick()

    async def _reachable(self) -> bool:
        """Does Telegram answer at all? Then a message that keeps failing is the problem."""
        try:
            await self._bot.get_me()
        except TelegramError:
            return False
        return True

    def _paused(self) -> bool:
        return asyncio.get_running_loop().time() < self._paused_until


def retry_after_seconds(error: RetryAfter) -> float:
    """`retry_after` in seconds, whichever of int or timedelta this PTB hands out."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)
