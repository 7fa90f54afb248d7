"""The one long-running process: database, web server and bot share one event loop.

Its parts (the engine, deliveries, retention, the bot with its sender and day, the web server,
the citizens, the NOTIFY listener, the scheduler) are started one way, by `Components`
(storage/loops.py), in an order each can rely on, and stopped in reverse. A background loop
does not end on an error (it backs off and tries again), so none can leave the process
running without it; `serve()` returns only when asked to stop, or when a part fails to start
(those started before it are stopped in order).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.charts import CHARTS
from bot.delivery.tuning import DeliveryTuning
from bot.delivery.worker import DeliveryWorker
from bot.retention import retention_loop
from bot.settings import Settings
from bot.telegram import lead_cards
from bot.telegram.tuning import TelegramTuning
from citizens.notices import SessionNotices
from citizens.runner import SessionRunner
from citizens.scheduler import Scheduler
from storage.engine import create_engine, session_factory
from storage.loops import Components, Loop
from storage.migrate import upgrade_to_head
from storage.repo import operator_pairing
from storage.wakeups import SESSIONS, listening
from web import webhooks
from web.app import create_app
from web.keys import RUNNER

if TYPE_CHECKING:
    from bot.telegram.component import TelegramComponent

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_S = 10


async def serve(
    settings: Settings,
    stop: asyncio.Event | None = None,
    *,
    telegram_tuning: TelegramTuning | None = None,
    delivery_tuning: DeliveryTuning | None = None,
) -> None:
    """Run until `stop` is set, or SIGTERM / SIGINT arrives; then shut down in order.

    Every component is started by `Components` (storage/loops.py), in the order below, and
    stopped in reverse. `telegram_tuning` and `delivery_tuning` shorten timeouts and retry
    delays (tests do).
    """
    stop = stop or asyncio.Event()
    async with Components() as components:
        engine, settings = await opened(components, settings, stop)
        delivery = None
        if settings.delivery_webhook_url is not None:
            # Started before the bot takes taps: an approval must find deliveries on.
            delivery = await components.start(
                "deliveries", DeliveryWorker(settings, engine, delivery_tuning)
            )
        await components.start(
            "retention",
            retention_loop(session_factory(engine), interval_s=settings.retention_interval_s),
        )

        telegram = None
        if settings.telegram_enabled:
            from bot.telegram.component import TelegramComponent

            telegram = TelegramComponent(
                settings,
                engine,
                telegram_tuning,
                deliver=delivery.kick if delivery is not None else None,
            )
            # Stopped after the web server, whose requests may still be handing it drafts.
            await components.start("Telegram", telegram.running())
            if delivery is not None:
                delivery.card_queued = telegram.notifier.kick
        else:
            log.warning("Telegram is off: TELEGRAM_BOT_TOKEN is not set; drafts are only stored")
        citizens = citizen_runner(settings, engine, telegram)
        app = create_app(
            settings,
            engine,
            notifier=telegram.notifier if telegram else None,
            deliver=delivery.kick if delivery is not None else None,
            charts=CHARTS,
            extra_endpoints=[*webhooks.ENDPOINTS, *(telegram.endpoints() if telegram else [])],
        )
        app[RUNNER] = citizens
        await components.start("the web server", web_server(app, settings))
        # Started once the API is up (citizens call it); stopped before it: its sessions are
        # killed and recorded as failed while the database and the outbox are still there.
        await components.start("citizens", citizens.running())
        # Workers' changes (a session queued elsewhere, a notice written by a worker) are seen
        # at once on PostgreSQL rather than at the next poll.
        await components.start(
            "session wake-ups",
            listening(engine, SESSIONS, _on_sessions_changed(citizens, telegram)),
        )
        scheduler = Scheduler(settings, session_factory(engine), wake=citizens.wake)
        # Its first tick fires what was missed less than an hour ago.
        await components.start("the scheduler", scheduler.loop)

        await stop.wait()
        log.info("shutting down")
    log.info("stopped")


async def opened(
    components: Components, settings: Settings, stop: asyncio.Event
) -> tuple[AsyncEngine, Settings]:
    """What every ScopeLock process (the service, a worker) starts with, in `components`:
    SIGTERM / SIGINT set `stop`, the one engine, the schema migrated, and the process's own
    settings with the operator chat (set, or paired)."""
    # Given back last, so a signal during shutdown still only asks to stop.
    await components.start("signal handlers", _signals_set(stop))
    engine = await components.start("the database engine", _engine(settings.database_url))
    await upgrade_to_head(engine)
    log.info("database schema is up to date (%s)", engine.url.get_backend_name())
    return engine, await with_operator_chat(settings, session_factory(engine))


@contextlib.asynccontextmanager
async def _signals_set(stop: asyncio.Event) -> AsyncIterator[None]:
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT)
    for signum in signals:
        loop.add_signal_handler(signum, stop.set)
    try:
        yield
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)


@contextlib.asynccontextmanager
async def _engine(url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(url)
    try:
        yield engine
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def web_server(app: web.Application, settings: Settings) -> AsyncIterator[None]:
    """The API on `settings.host:port`; on exit, requests in flight get SHUTDOWN_GRACE_S."""
    runner = web.AppRunner(app, shutdown_timeout=SHUTDOWN_GRACE_S, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.host, settings.port).start()
        log.info("ScopeLock listening on http://%s:%s", settings.host, settings.port)
        yield
    finally:
        await runner.cleanup()


async def with_operator_chat(settings: Settings, db: async_sessionmaker[AsyncSession]) -> Settings:
    """The service's own copy of the settings, with the paired operator chat when
    TELEGRAM_CHAT_ID is unset (a set one always wins); a pairing may fill it in later."""
    settings = settings.model_copy()
    if settings.telegram_enabled and settings.telegram_chat_id is None:
        async with db() as session:
            settings.telegram_chat_id = await operator_pairing.paired_chat_id(session=session)
        if settings.telegram_chat_id is not None:
            log.info("operator chat: %s (paired)", settings.telegram_chat_id)
    return settings


def pairing_follower(
    settings: Settings, db: async_sessionmaker[AsyncSession], *, every_s: float = 5.0
) -> Loop[int]:
    """While no operator chat is known, look for the pairing another process makes (a
    worker's notices then reach the chat the service paired, without a restart)."""

    async def look() -> int | None:
        if not settings.telegram_enabled or settings.telegram_chat_id is not None:
            return None
        async with db() as session:
            return await operator_pairing.paired_chat_id(session=session)

    async def follow(chat_id: int) -> None:
        settings.telegram_chat_id = chat_id
        log.info("operator chat: %s (paired)", chat_id)

    return Loop("follow-pairing", claim=look, handle=follow, every=every_s)


def session_notices(
    settings: Settings, *, enabled: bool, kick: Callable[[], None] = lambda: None
) -> SessionNotices:
    """What a session tells the operator chat, the same from the service and a worker: its
    notice (through the outbox) and, for a proposal, its lead's card brought up to date."""
    return SessionNotices(
        enabled=enabled,
        operator_chat=lambda: settings.telegram_chat_id,
        kick=kick,
        on_finished=lead_cards.session_finished,
    )


def citizen_runner(
    settings: Settings, engine: AsyncEngine, telegram: TelegramComponent | None
) -> SessionRunner:
    """The session runner; it reports to Telegram through the bot's outbox when the bot is on."""
    notices = session_notices(
        settings,
        enabled=telegram is not None,
        kick=telegram.notifier.kick if telegram is not None else lambda: None,
    )
    # SESSIONS_IN_PROCESS=false: `scopelock worker` processes run them; this one only queues.
    runner = SessionRunner(
        settings, session_factory(engine), notices, claims=settings.sessions_in_process
    )
    if telegram is not None:
        from bot.telegram.trigger import attach_runner

        attach_runner(telegram.application, runner)
    return runner


def _on_sessions_changed(
    citizens: SessionRunner, telegram: TelegramComponent | None
) -> Callable[[], None]:
    def wake() -> None:
        citizens.wake()
        if telegram is not None:
            telegram.notifier.kick()

    return wake
