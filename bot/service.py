"""The one long-running process: database, web server and bot share one event loop."""

from __future__ import annotations

import asyncio
import logging
import signal
from contextlib import AsyncExitStack

from aiohttp import web

from bot.settings import Settings
from bot.telegram.tuning import TelegramTuning
from storage.engine import create_engine
from storage.migrate import upgrade_to_head
from web.app import create_app

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_S = 10


async def serve(
    settings: Settings,
    stop: asyncio.Event | None = None,
    *,
    telegram_tuning: TelegramTuning | None = None,
) -> None:
    """Run until `stop` is set, or SIGTERM / SIGINT arrives; then shut down in order.

    `telegram_tuning` shortens the bot's timeouts and retry delays (tests do).
    """
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()

    async with AsyncExitStack() as stack:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
            # Given back last, so a signal during shutdown still only asks to stop.
            stack.callback(loop.remove_signal_handler, signum)
        engine = create_engine(settings.database_url)
        stack.push_async_callback(engine.dispose)
        await upgrade_to_head(engine)
        log.info("database schema is up to date (%s)", engine.url.get_backend_name())

        telegram = None
        if settings.telegram_enabled:
            from bot.telegram.component import TelegramComponent

            telegram = TelegramComponent(settings, engine, telegram_tuning)
            await telegram.start()
            # Stopped after the web server, whose requests may still be handing it drafts.
            stack.push_async_callback(telegram.stop)
        else:
            log.warning("Telegram is off: TELEGRAM_BOT_TOKEN is not set; drafts are only stored")
        app = create_app(
            settings,
            engine,
            notifier=telegram.notifier if telegram else None,
            extra_endpoints=telegram.endpoints() if telegram else None,
        )

        runner = web.AppRunner(app, shutdown_timeout=SHUTDOWN_GRACE_S, access_log=None)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        site = web.TCPSite(runner, settings.host, settings.port)
        await site.start()
        log.info("ScopeLock listening on http://%s:%s", settings.host, settings.port)

        await stop.wait()
        log.info("shutting down")
    log.info("stopped")
