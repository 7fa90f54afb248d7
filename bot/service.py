"""The one long-running process: database, web server and bot share one event loop."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from contextlib import AsyncExitStack
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
from storage.loops import Loop
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

    `telegram_tuning` and `delivery_tuning` shorten timeouts and retry delays (tests do).
    """
    stop = stop or asyncio.Event()
    async with AsyncExitStack() as stack:
        engine, settings = await opened(stack, settings, stop)
        delivery = None
        if settings.delivery_webhook_url is not None:
            # Started before the bot takes taps: an approval must find deliveries on.
            delivery = DeliveryWorker(settings, engine, delivery_tuning)
            delivery.start()
            stack.push_async_callback(delivery.stop)
        await stack.enter_async_context(
            retention_loop(
                session_factory(engine), interval_s=settings.retention_interval_s
            ).running_until_exit()
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
            await telegram.start()
            # Stopped after the web server, whose requests may still be handing it drafts.
            stack.push_async_callback(telegram.stop)
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

        runner = web.AppRunner(app, shutdown_timeout=SHUTDOWN_GRACE_S, access_log=None)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        site = web.TCPSite(runner, settings.host, settings.port)
        await site.start()
        log.info("ScopeLock listening on http://%s:%s", settings.host, settings.port)
        # Started once the API is up (citizens call it); stopped first: its sessions are killed
        # and recorded as failed while the database and the outbox are still there.
        await citizens.start()
        stack.push_async_callback(citizens.stop)
        # Workers' changes (a session queued elsewhere, a notice written by a worker) are seen
        # at once on PostgreSQL rather than at the next poll.
        await stack.enter_async_context(
            listening(engine, SESSIONS, _on_sessions_changed(citizens, telegram))
        )
        scheduler = Scheduler(settings, session_factory(engine), wake=citizens.wake)
        # Its first tick fires what was missed less than an hour ago.
        await stack.enter_async_context(scheduler.loop.running_until_exit())

        await stop.wait()
        log.info("shutting down")
    log.info("stopped")


async def opened(
    stack: AsyncExitStack, settings: Settings, stop: asyncio.Event
) -> tuple[AsyncEngine, Settings]:
    """What every ScopeLock process (the service, a worker) starts with, undone by `stack`:
    SIGTERM / SIGINT set `stop`, the one engine, the schema migrated, and the process's own
    settings with the operator chat (set, or paired)."""
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
        # Given back last, so a signal during shutdown still only asks to stop.
        stack.callback(loop.remove_signal_handler, signum)
    engine = create_engine(settings.database_url)
    stack.push_async_callback(engine.dispose)
    await upgrade_to_head(engine)
    log.info("database schema is up to date (%s)", engine.url.get_backend_name())
    return engine, await with_operator_chat(settings, session_factory(engine))


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
) -> Loop:
    """While no operator chat is known, look for the pairing another process makes (a
    worker's notices then reach the chat the service paired, without a restart)."""

    async def look() -> None:
        if not settings.telegram_enabled or settings.telegram_chat_id is not None:
            return
        async with db() as session:
            chat_id = await operator_pairing.paired_chat_id(session=session)
        if chat_id is not None:
            settings.telegram_chat_id = chat_id
            log.info("operator chat: %s (paired)", chat_id)

    return Loop("follow-pairing", look, every=every_s)


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
