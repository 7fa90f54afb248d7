"""The session runner: claims queued sessions from the database and runs them in background.

One session per citizen runs at a time (the database enforces it, across processes); different
citizens run side by side. The queue lives in the database, so it survives a restart; this
task only needs a `wake()` after an enqueue, and polls anyway for other processes' work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import tempfile
import uuid
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

from citizens import orphans, prompts, results
from citizens.argv import build_argv
from citizens.config import CitizenSettings
from citizens.directory import citizen_dir, citizens_root
from citizens.environment import citizen_environment
from citizens.mcp_config import write_mcp_config
from citizens.notices import SessionNotices
from citizens.process import ProcessResult, run_cli
from citizens.results import Parsed
from storage.models import CitizenSession
from storage.repo import citizen_queue, conversation_costs, session_budget, session_tokens
from storage.types import utcnow

log = logging.getLogger(__name__)

OUTPUT_TAIL_CHARS = 4000
RECORD_RETRY_S = 60
# Runner tokens alive in this process: with several runners in one process (tests), a claim
# carrying this host and pid is dead only when its token is not among them.
_LIVE_TOKENS: set[str] = set()


class SessionRunner:
    def __init__(
        self,
        settings: CitizenSettings,
        db: async_sessionmaker[AsyncSession],
        notices: SessionNotices,
        *,
        poll_interval_s: float = 5.0,
        heartbeat_interval_s: float = 15.0,
        stale_after_s: float = 90.0,
    ) -> None:
        self._settings = settings
        self._db = db
        self._notices = notices
        self._poll_interval_s = poll_interval_s
        self._heartbeat_interval_s = heartbeat_interval_s
        self._stale_after = timedelta(seconds=stale_after_s)
        self._host = socket.gethostname()[:60]  # claimed_by holds 100 characters
        self.token = f"{self._host}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._running: dict[str, asyncio.Task[None]] = {}  # citizen -> its session task
        self._running_ids: set[str] = set()
        self._loop_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Fail what a crashed process left running, then start claiming."""
        _LIVE_TOKENS.add(self.token)
        await self.reap("the process running it stopped before it finished")
        self._loop_task = asyncio.create_task(self._loop(), name="citizen-runner")

    def wake(self) -> None:
        """A session was queued: look at the queue now instead of at the next poll."""
        self._wake.set()

    async def stop(self) -> None:
        """Kill running sessions (each is recorded as failed), then stop claiming."""
        self._stop.set()
        self._wake.set()
        if self._loop_task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        tasks = list(self._running.values())
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        _LIVE_TOKENS.discard(self.token)

    async def reap(self, reason: str) -> list[CitizenSession]:
        """Fail running sessions whose runner is gone; returns them."""
        older_than = utcnow() - self._stale_after
        async with self._db() as session, session.begin():
            failed = await citizen_queue.fail_abandoned(
                session=session,
                is_abandoned=lambda row: self._is_abandoned(row, older_than=older_than),
                reason=reason,
            )
            for row in failed:
                await self._notices.finished(session=session, row=row)
        for row in failed:
            log.warning("session %s of %s marked failed: %s", row.id, row.citizen, reason)
            if self._on_this_host(row):
                await orphans.end_orphan(row.pgid, row.id)
        if failed:
            self._kick()
        return failed

    def _kick(self) -> None:
        """Wake the outbox sender: the notice was stored with the change it reports."""
        self._notices.kick()

    def _on_this_host(self, row: CitizenSession) -> bool:
        return (row.claimed_by or "").partition(":")[0] == self._host

    def _is_abandoned(self, row: CitizenSession, *, older_than: datetime) -> bool:
        host, _, rest = (row.claimed_by or "").partition(":")
        pid_text, _, _ = rest.partition(":")
        if row.claimed_by == self.token:
            return row.id not in self._running_ids
        if host == self._host and pid_text.isdigit():
            pid = int(pid_text)
            if pid == os.getpid():
                return row.claimed_by not in _LIVE_TOKENS
            if not _process_exists(pid):
                return True
        return citizen_queue.is_stale(row, older_than=older_than)

    async def _loop(self) -> None:
        last_beat = asyncio.get_running_loop().time()
        while not self._stop.is_set():
            # Cleared before the work, so a wake during it leads to another round at once.
            self._wake.clear()
            try:
                await self._announce_queued()
                await self._claim_all()
                now = asyncio.get_running_loop().time()
                if now - last_beat >= self._heartbeat_interval_s:
                    last_beat = now
                    await self._beat()
            except Exception:
                # The database may be down for a while; the queue waits in it meanwhile.
                log.exception("citizen runner: cycle failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_interval_s)

    async def _announce_queued(self) -> None:
        async with self._db() as session, session.begin():
            announced = await self._notices.announce_queued(session=session)
        if announced:
            self._kick()

    async def _beat(self) -> None:
        async with self._db() as session, session.begin():
            await citizen_queue.heartbeat(session=session, session_ids=list(self._running_ids))
        await self.reap("its runner stopped answering (crashed or cut off)")

    async def _claim_all(self) -> None:
        async with self._db() as session:
            waiting = await citizen_queue.citizens_waiting(session=session)
        for citizen in waiting:
            if self._stop.is_set():
                return
            if citizen not in self._running:
                await self._claim(citizen)

    async def _claim(self, citizen: str) -> None:
        token = session_tokens.new_token()
        try:
            async with self._db() as session, session.begin():
                over_budget = await self._budget_spent(session)
                row = await citizen_queue.claim_next(
                    session=session,
                    citizen=citizen,
                    claimed_by=self.token,
                    token_hash=session_tokens.token_hash(token),
                    only_run_anyway=over_budget,
                )
                if row is not None:
                    await self._notices.started(session=session, row=row)
        except IntegrityError:
            return  # another process started a session of this citizen first
        if over_budget:
            self._kick()
        if row is None:
            return
        self._kick()
        log.info("session %s of %s started", row.id, citizen)
        self._running_ids.add(row.id)
        self._running[citizen] = asyncio.create_task(
            self._run(row, token), name=f"session-{row.id}"
        )

    async def _budget_spent(self, session: AsyncSession) -> bool:
        """True when today's sessions have cost CITIZENS_DAILY_BUDGET_USD: queued sessions are
        then held back (and the operator told, once a day)."""
        budget = self._settings.citizens_daily_budget_usd
        if budget is None:
            return False
        today = session_budget.start_of_today(self._settings.tz)
        spent = await session_budget.spent_since(session=session, since=today)
        if spent < budget:
            await session_budget.release(session=session)
            return False
        await session_budget.hold(session=session)
        if await session_budget.first_today(
            session=session, since=today, spent=spent, budget=budget
        ):
            held = await session_budget.waiting(session=session)
            await self._notices.budget_exceeded(
                session=session, spent=spent, budget=budget, waiting=held
            )
        return True

    async def _run(self, row: CitizenSession, token: str) -> None:
        try:
            result = await self._execute(row, token)
            await self._record(row, *result)
        except Exception:
            log.exception("session %s of %s: could not record its end", row.id, row.citizen)
        finally:
            self._running.pop(row.citizen, None)
            self._running_ids.discard(row.id)
            self._wake.set()

    async def _execute(self, row: CitizenSession, token: str) -> tuple[ProcessResult, Parsed]:
        """Run the CLI: resuming the thread's conversation when it has one, and once more as
        a new conversation if that one is gone."""
        folder = citizen_dir(citizens_root(self._settings), row.citizen)
        if folder is None:
            missing = f"no citizen {row.citizen!r} in CITIZENS_DIR"
            return ProcessResult(None, "", "", launch_error=missing), results.parse("")
        async with self._db() as session:
            resume_id = await citizen_queue.previous_conversation(session=session, row=row)
        env = citizen_environment(
            os.environ,
            self._settings,
            session_id=row.id,
            session_token=token,
            thread_id=row.thread_id,
        )
        # The config names the session's variables by reference; it is removed with its folder.
        with tempfile.TemporaryDirectory(prefix="scopelock-session-") as scratch:
            config = write_mcp_config(Path(scratch) / "mcp.json")
            process, parsed = await self._attempt(row, folder, config, env, row.prompt, resume_id)
            if resume_id is not None and results.conversation_lost(process, parsed):
                log.warning(
                    "session %s: conversation %s is gone; starting a new one", row.id, resume_id
                )
                prompt = prompts.conversation_lost(row.prompt)
                process, parsed = await self._attempt(row, folder, config, env, prompt, None)
        return process, parsed

    async def _attempt(
        self,
        row: CitizenSession,
        folder: Path,
        config: Path,
        env: dict[str, str],
        prompt: str,
        resume_id: str | None,
    ) -> tuple[ProcessResult, Parsed]:
        argv = build_argv(
            claude_bin=self._settings.claude_bin,
            prompt=prompt,
            mcp_config=config,
            session_id=str(uuid.uuid4()) if resume_id is None else None,
            resume_id=resume_id,
            max_budget_usd=self._settings.citizen_max_budget_usd,
        )
        process = await run_cli(
            argv,
            cwd=folder,
            env=env,
            timeout_s=self._settings.citizen_timeout_s,
            stop=self._stop,
            on_start=lambda pid: self._started_process(row, pid),
        )
        return process, results.parse(process.stdout)

    async def _started_process(self, row: CitizenSession, pid: int) -> None:
        """Keep the CLI's process group on the row: after a crash, the next start ends it."""
        try:
            async with self._db() as session, session.begin():
                await citizen_queue.set_process(
                    session=session, session_id=row.id, pid=pid, pgid=pid
                )
        except Exception:
            log.warning("session %s: could not record its process group", row.id, exc_info=True)

    async def _record(self, row: CitizenSession, process: ProcessResult, parsed: Parsed) -> None:
        """Write how the session ended; a database blip is waited out rather than losing the
        exit code (if it lasts, the reaper records the session failed without it)."""
        status, error = results.outcome(process, parsed, self._settings.citizen_timeout_s)
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(DBAPIError),
            stop=stop_after_delay(RECORD_RETRY_S),
            wait=wait_exponential(multiplier=0.5, max=5),
            before_sleep=lambda state: log.warning(
                "session %s: recording its end failed (%s); retrying",
                row.id,
                type(state.outcome.exception()).__name__ if state.outcome else "?",
            ),
            reraise=True,
        ):
            with attempt:
                await self._write_end(row, status, process, error, parsed)
        self._kick()
        log.info("session %s of %s %s (exit %s)", row.id, row.citizen, status, process.exit_code)

    async def _write_end(
        self,
        row: CitizenSession,
        status: str,
        result: ProcessResult,
        error: str | None,
        parsed: Parsed,
    ) -> None:
        async with self._db() as session, session.begin():
            parsed = await _this_runs_cost(session, row, parsed)
            ended = await citizen_queue.finish(
                session=session,
                session_id=row.id,
                status=status,
                exit_code=result.exit_code,
                output_tail=result.stdout[-OUTPUT_TAIL_CHARS:] or None,
                error=error,
                result=parsed.result,
            )
            if ended is not None:
                await self._notices.finished(session=session, row=ended)


async def _this_runs_cost(session: AsyncSession, row: CitizenSession, parsed: Parsed) -> Parsed:
    """The result with what this run cost, not the resumed conversation's total."""
    conversation = parsed.result.claude_session_id
    if conversation is None:
        return parsed
    earlier = await conversation_costs.spent_before(
        session=session, row=row, claude_session_id=conversation
    )
    return results.this_run(parsed, earlier)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
