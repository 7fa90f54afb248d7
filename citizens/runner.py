"""The session runner: claims queued sessions from the database and runs them in background.

One session per citizen runs at a time (the database enforces it, across processes); different
citizens run side by side, up to WORKER_CONCURRENCY in one process. The queue lives in the
database, so it survives a restart; this task only needs a `wake()` after an enqueue, and polls
anyway for other processes' work.

Each running session holds a lease (`heartbeat_at`) that its process renews while the CLI
runs; a session whose lease lapsed is failed as `worker lost` by whichever process sees it
first. The conversation's transcript is kept in the database (citizens/transcripts.py), so the
thread's next session may resume it in any process. Two loops: claiming (stops first on
shutdown) and leases (kept until the last session has ended).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import tempfile
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import NamedTuple

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

from citizens import orphans, prompts, results, transcripts
from citizens.argv import build_argv
from citizens.config import CitizenSettings
from citizens.directory import citizen_dir, citizens_root
from citizens.environment import citizen_environment
from citizens.mcp_config import write_mcp_config
from citizens.notices import SessionNotices
from citizens.process import ProcessResult, run_cli
from citizens.results import Parsed
from storage.loops import Loop
from storage.models import CitizenSession
from storage.repo import (
    citizen_queue,
    conversation_costs,
    conversations,
    session_budget,
    session_tokens,
    workers,
)
from storage.types import utcnow

log = logging.getLogger(__name__)

OUTPUT_TAIL_CHARS = 4000
RECORD_RETRY_S = 60
STARTED_AGAIN = "the process running it stopped before it finished"
WORKER_LOST = "worker lost"
SERVICE_STOPPED = "the service shut down while it ran; its processes were killed"
WORKER_STOPPED = "worker stopped"
# A worker row not renewed for this long is forgotten (/health counts only the recent ones).
FORGET_WORKERS_AFTER = timedelta(days=1)
# Runner tokens alive in this process: with several runners in one process (tests), a claim
# carrying this host and pid is dead only when its token is not among them.
_LIVE_TOKENS: set[str] = set()


class Claimed(NamedTuple):
    """A session this process claimed, and the token it will run with."""

    row: CitizenSession
    token: str


class SessionRunner:
    def __init__(
        self,
        settings: CitizenSettings,
        db: async_sessionmaker[AsyncSession],
        notices: SessionNotices,
        *,
        poll_interval_s: float = 5.0,
        heartbeat_interval_s: float | None = None,
        stale_after_s: float | None = None,
        claims: bool = True,
        worker: bool = False,
        transcript_max_bytes: int = transcripts.MAX_TRANSCRIPT_BYTES,
    ) -> None:
        """`claims=False`: run no session (the web process when SESSIONS_IN_PROCESS=false);
        it still announces queued sessions and fails those whose lease lapsed.
        `worker`: a `scopelock worker` process (its sessions killed by `stop()` are failed as
        `worker stopped`; the orphans it finds at start are other processes' lost sessions)."""
        self._settings = settings
        self._db = db
        self._notices = notices
        lease_s = settings.session_lease_s if stale_after_s is None else stale_after_s
        self._lease = timedelta(seconds=lease_s)
        # Renewed several times per lease, so one slow round does not lose it.
        self._heartbeat_interval_s = heartbeat_interval_s or min(15.0, lease_s / 4)
        self._claims = claims
        self._concurrency = settings.worker_concurrency
        self._worker = worker
        self._stopped_reason = WORKER_STOPPED if worker else SERVICE_STOPPED
        self._transcript_max_bytes = transcript_max_bytes
        self._host = socket.gethostname()[:60]  # claimed_by holds 100 characters
        self.token = f"{self._host}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        # Two loops on the shared helper: claiming (stopped first on shutdown) and leases
        # (kept until every session has ended, so a drain never loses its leases).
        self._claiming: Loop[Claimed] = Loop(
            "citizen-runner", claim=self._claim_next, handle=self._launch, every=poll_interval_s
        )
        self._leasing: Loop[list[CitizenSession]] = Loop(
            "citizen-leases",
            claim=self._lease_round,
            handle=self._reaped,
            every=self._heartbeat_interval_s,
        )
        self._running: dict[str, asyncio.Task[None]] = {}  # citizen -> its session task
        self._kills: dict[str, asyncio.Event] = {}  # session id -> set to kill its CLI

    @property
    def _running_ids(self) -> set[str]:
        return set(self._kills)

    async def start(self) -> None:
        """Fail what a crashed process left running, then start claiming."""
        _LIVE_TOKENS.add(self.token)
        # The one service process finds what its own earlier run left behind; a worker (or a
        # web process beside workers) finds what another process lost.
        single_process = self._claims and not self._worker
        await self.reap(STARTED_AGAIN if single_process else WORKER_LOST)
        if self._claims:
            await self._beat()  # counted as a worker from the start
        self._claiming.start()
        self._leasing.start()

    @contextlib.asynccontextmanager
    async def running(self, *, drain_s: float = 0.0) -> AsyncIterator[SessionRunner]:
        """Started on entry; stopped on exit, its running sessions given `drain_s`."""
        await self.start()
        try:
            yield self
        finally:
            await self.stop(drain_s)

    def wake(self) -> None:
        """A session was queued: look at the queue now instead of at the next poll."""
        self._claiming.kick()

    async def stop(self, drain_s: float = 0.0) -> None:
        """Stop claiming at once; let running sessions finish within `drain_s`; then kill
        those left (each recorded as failed with `stopped_reason`)."""
        await self._claiming.stop()
        tasks = list(self._running.values())
        if tasks and drain_s > 0:
            log.info("waiting up to %g s for %d running session(s)", drain_s, len(tasks))
            await asyncio.wait(tasks, timeout=drain_s)
        for kill in self._kills.values():
            kill.set()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        await self._leasing.stop()
        if self._claims:
            with contextlib.suppress(Exception):
                async with self._db() as session, session.begin():
                    await workers.leave(session=session, worker_id=self.token)
        _LIVE_TOKENS.discard(self.token)

    async def reap(self, reason: str) -> list[CitizenSession]:
        """Fail running sessions whose runner is gone; returns them."""
        failed = await self._fail_abandoned(reason)
        if failed:
            await self._reaped(failed)
        return failed

    async def _fail_abandoned(self, reason: str) -> list[CitizenSession]:
        """The claim of the lease loop: fail the abandoned sessions, each with its notice."""
        older_than = utcnow() - self._lease
        async with self._db() as session, session.begin():
            failed = await citizen_queue.fail_abandoned(
                session=session,
                is_abandoned=lambda row: self._is_abandoned(row, older_than=older_than),
                reason=reason,
            )
            for row in failed:
                await self._notices.finished(session=session, row=row)
        return list(failed)

    async def _reaped(self, failed: list[CitizenSession]) -> None:
        """End what is left of failed sessions on this host; wake the sender for notices."""
        for row in failed:
            log.warning("session %s of %s marked failed: %s", row.id, row.citizen, row.error)
            if self._on_this_host(row):
                await orphans.end_orphan(row.pgid, row.id)
        self._kick()

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

    async def _claim_next(self) -> Claimed | None:
        """Announce queued sessions and claim the next one this process has room for. A
        failure (the database down for a while) is retried by the loop; the queue waits in
        the database."""
        await self._announce_queued()
        if not self._claims or len(self._running) >= self._concurrency:
            return None
        async with self._db() as session:
            waiting = await citizen_queue.citizens_waiting(session=session)
        for citizen in waiting:
            if self._claiming.stopping:
                return None
            if citizen not in self._running and (claimed := await self._claim(citizen)):
                return claimed
        return None

    async def _lease_round(self) -> list[CitizenSession]:
        """Renew this process's leases, then fail the sessions whose lease lapsed."""
        await self._beat()
        return await self._fail_abandoned(WORKER_LOST)

    async def _announce_queued(self) -> None:
        async with self._db() as session, session.begin():
            announced = await self._notices.announce_queued(session=session)
        if announced:
            self._kick()

    async def _beat(self) -> None:
        """Renew this process's leases and its sign of life. A session whose lease was taken
        meanwhile (failed as lost by another process) is no longer ours to run: its CLI stops."""
        if not self._claims:
            return
        mine = self._running_ids
        async with self._db() as session, session.begin():
            renewed = await citizen_queue.renew_leases(
                session=session, claimed_by=self.token, session_ids=sorted(mine)
            )
            await workers.beat(
                session=session,
                worker_id=self.token,
                forget_before=utcnow() - FORGET_WORKERS_AFTER,
            )
        for session_id in mine - renewed:
            kill = self._kills.get(session_id)
            if kill is not None and not kill.is_set():
                log.warning("session %s: its lease was lost; stopping its CLI", session_id)
                kill.set()

    async def _claim(self, citizen: str) -> Claimed | None:
        token = session_tokens.new_token()
        row = None
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
                    # Running here from the commit on: the lease loop, seeing the row between
                    # the commit and the launch, must not fail it as abandoned.
                    self._kills[row.id] = asyncio.Event()
                    await self._notices.started(session=session, row=row)
        except BaseException as error:
            if row is not None:
                self._kills.pop(row.id, None)
            if isinstance(error, IntegrityError):
                return None  # another process started a session of this citizen first
            raise
        if over_budget:
            self._kick()
        if row is None:
            return None
        self._kick()
        return Claimed(row, token)

    async def _launch(self, claimed: Claimed) -> None:
        """Run the claimed session in the background."""
        row = claimed.row
        log.info("session %s of %s started", row.id, row.citizen)
        self._running[row.citizen] = asyncio.create_task(
            self._run(row, claimed.token), name=f"session-{row.id}"
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
            process, parsed, transcript = await self._execute(row, token)
            await self._record(row, process, parsed, transcript)
        except Exception:
            log.exception("session %s of %s: could not record its end", row.id, row.citizen)
        finally:
            self._running.pop(row.citizen, None)
            self._kills.pop(row.id, None)
            self._claiming.kick()

    async def _execute(
        self, row: CitizenSession, token: str
    ) -> tuple[ProcessResult, Parsed, bytes | None]:
        """Run the CLI: resuming the thread's conversation when it has one, and once more as
        a new conversation if that one is gone. Returns the transcript it left, if any."""
        folder = citizen_dir(citizens_root(self._settings), row.citizen)
        if folder is None:
            missing = f"no citizen {row.citizen!r} in CITIZENS_DIR"
            return ProcessResult(None, "", "", launch_error=missing), results.parse(""), None
        env = citizen_environment(
            os.environ,
            self._settings,
            session_id=row.id,
            session_token=token,
            thread_id=row.thread_id,
        )
        resume_id, prompt = await self._conversation(row, folder, env)
        # The config names the session's variables by reference; it is removed with its folder.
        with tempfile.TemporaryDirectory(prefix="scopelock-session-") as scratch:
            config = write_mcp_config(Path(scratch) / "mcp.json")
            process, parsed = await self._attempt(row, folder, config, env, prompt, resume_id)
            if resume_id is not None and results.conversation_lost(process, parsed):
                log.warning(
                    "session %s: conversation %s is gone; starting a new one", row.id, resume_id
                )
                prompt = prompts.conversation_lost(row.prompt)
                process, parsed = await self._attempt(row, folder, config, env, prompt, None)
        conversation = parsed.result.claude_session_id
        transcript = None
        if conversation is not None:
            # Files of megabytes: read in a thread, off the event loop (as written back).
            transcript = await asyncio.to_thread(transcripts.read, env, folder, conversation)
        return process, parsed, transcript

    async def _conversation(
        self, row: CitizenSession, folder: Path, env: dict[str, str]
    ) -> tuple[str | None, str]:
        """The conversation to resume and the prompt. The stored transcript is written back
        where the CLI reads it; one that outgrew the limit is not resumed: the session starts
        a new conversation told to read the thread."""
        async with self._db() as session:
            resume_id = await citizen_queue.previous_conversation(session=session, row=row)
            stored = None
            if resume_id is not None:
                stored = await conversations.load(session=session, claude_session_id=resume_id)
        if resume_id is None or stored is None:
            # None stored (a conversation older than the database's copies): the CLI may
            # still have it locally; if not, the lost-conversation fallback applies.
            return resume_id, row.prompt
        if stored.transcript is None:
            log.info("session %s: conversation %s is too long to resume", row.id, resume_id)
            return None, prompts.conversation_lost(row.prompt)
        await asyncio.to_thread(transcripts.write_back, env, folder, resume_id, stored.transcript)
        return resume_id, row.prompt

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
            stop=self._kills.setdefault(row.id, asyncio.Event()),
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

    async def _record(
        self,
        row: CitizenSession,
        process: ProcessResult,
        parsed: Parsed,
        transcript: bytes | None,
    ) -> None:
        """Write how the session ended; a database blip is waited out rather than losing the
        exit code (if it lasts, the reaper records the session failed without it)."""
        status, error = results.outcome(
            process, parsed, self._settings.citizen_timeout_s, stopped=self._stopped_reason
        )
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
                await self._write_end(row, status, process, error, parsed, transcript)
        self._kick()
        log.info("session %s of %s %s (exit %s)", row.id, row.citizen, status, process.exit_code)

    async def _write_end(
        self,
        row: CitizenSession,
        status: str,
        result: ProcessResult,
        error: str | None,
        parsed: Parsed,
        transcript: bytes | None,
    ) -> None:
        """The end, and the conversation's transcript in the same transaction: the thread's
        next session (perhaps in another process) cannot start before it is stored."""
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
            if ended is None:
                return
            await self._notices.finished(session=session, row=ended)
            conversation = parsed.result.claude_session_id
            if conversation is not None and transcript is not None:
                kept = await conversations.save(
                    session=session,
                    claude_session_id=conversation,
                    citizen=row.citizen,
                    transcript=transcript,
                    max_bytes=self._transcript_max_bytes,
                )
                if not kept:
                    log.info("session %s: its conversation is too long to keep", row.id)


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
