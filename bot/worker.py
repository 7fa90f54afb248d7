"""`scopelock worker`: a process that runs citizen sessions from the database, and nothing else.

No Telegram polling, no HTTP API: it claims queued sessions (at most WORKER_CONCURRENCY at
once), runs them, and writes their results, events and notices; the notices wait in the
outbox for the web process's sender. SIGTERM stops claiming at once and lets running
sessions finish within WORKER_DRAIN_S; those left are killed and failed (`worker stopped`).
Its components start and stop as the service's do (`Components`, storage/loops.py).
"""

from __future__ import annotations

import asyncio
import logging

from bot.service import opened, pairing_follower, session_notices
from bot.settings import Settings
from citizens.runner import SessionRunner
from storage.engine import session_factory
from storage.loops import Components
from storage.wakeups import SESSIONS, listening

log = logging.getLogger(__name__)

# PostgreSQL wakes the worker at once (NOTIFY); polling only covers a lost notification.
POLL_S = 2.0


async def work(
    settings: Settings, stop: asyncio.Event | None = None, *, poll_interval_s: float = POLL_S
) -> None:
    """Run sessions until `stop` is set, or SIGTERM / SIGINT arrives; then drain."""
    stop = stop or asyncio.Event()
    async with Components() as components:
        engine, settings = await opened(components, settings, stop)
        # Notices are addressed here and sent by the web process; a pairing the web process
        # makes later is followed.
        await components.start(
            "the pairing follower", pairing_follower(settings, session_factory(engine))
        )
        # Notices are queued here and sent by the web process's outbox sender.
        notices = session_notices(settings, enabled=settings.telegram_enabled)
        runner = SessionRunner(
            settings,
            session_factory(engine),
            notices,
            poll_interval_s=poll_interval_s,
            worker=True,
        )
        await components.start("session wake-ups", listening(engine, SESSIONS, runner.wake))
        await components.start("citizens", runner.running(drain_s=settings.worker_drain_s))
        log.info(
            "worker %s running up to %d session(s) at once (%s)",
            runner.token,
            settings.worker_concurrency,
            engine.url.get_backend_name(),
        )
        await stop.wait()
        log.info("stopping: no new sessions; waiting up to %g s", settings.worker_drain_s)
    log.info("stopped")
