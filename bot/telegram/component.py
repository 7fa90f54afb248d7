"""The Telegram component of the process: the PTB Application, driven by hand in our loop.

Entering `running()` returns at once: reaching Telegram (getMe, setMyCommands, then polling
or setWebhook) is retried in the background with backoff, so the API serves and drafts are
stored (and queued) while Telegram is unreachable. PTB's post_init/post_shutdown do not run
when the Application is driven by hand; what they would do happens in `_connect` and when
`running()` is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from telegram import LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.ext import Application, Defaults
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, wait_exponential

from bot.day.clock import in_quiet_hours
from bot.day.loop import OperatorDay
from bot.settings import Settings
from bot.telegram import card_upkeep
from bot.telegram.aiohttp_request import AiohttpRequest
from bot.telegram.commands import COMMANDS
from bot.telegram.deps import DEPS_KEY, BotDeps
from bot.telegram.handlers import register_handlers
from bot.telegram.menu import set_menu_button
from bot.telegram.notifier import TelegramNotifier
from bot.telegram.pairing import Pairing
from bot.telegram.sender import OutboxSender
from bot.telegram.tuning import TelegramTuning
from bot.telegram.update_order import ChatOrderedUpdates
from storage.engine import session_factory
from storage.hotpath import HotPath
from storage.loops import Components
from storage.repo.deliveries import Wake
from storage.types import utcnow
from web.endpoints import Endpoint
from web.telegram_webhook import telegram_webhook_endpoints

log = logging.getLogger(__name__)

ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]
CONCURRENT_UPDATES = 8


class TelegramComponent:
    def __init__(
        self,
        settings: Settings,
        engine: AsyncEngine,
        tuning: TelegramTuning | None = None,
        *,
        deliver: Wake | None = None,
    ) -> None:
        """`deliver`: the delivery worker's wake, for approvals (None: deliveries are off)."""
        assert settings.telegram_bot_token is not None
        self.settings = settings
        self.tuning = tuning or TelegramTuning()
        if not settings.telegram_pacing:
            self.tuning = self.tuning.unpaced()
        self.application = build_application(settings, self.tuning)
        self.sender = OutboxSender(
            self.application.bot,
            session_factory(engine),
            HotPath(engine),
            self.tuning,
            quiet=lambda: in_quiet_hours(settings, utcnow()),
        )
        self._db = session_factory(engine)
        self.pairing = (
            Pairing(settings, self._db, self._after_pairing)
            if settings.telegram_chat_id is None
            else None
        )
        self.application.bot_data[DEPS_KEY] = BotDeps(
            settings=settings,
            db=self._db,
            sender=self.sender,
            deliver=deliver,
            pairing=self.pairing,
        )
        self.sender.on_stale_card = self._refresh_card
        self.notifier = TelegramNotifier(settings, self.sender, lambda: self.ready)
        self.day = OperatorDay(
            settings,
            session_factory(engine),
            kick=self.sender.kick,
            tick_s=self.tuning.day_tick_s,
        )
        self.ready = False
        """Telegram was reached and updates flow (polling started, or webhook set)."""

    def endpoints(self) -> list[Endpoint]:
        """The Telegram webhook routes, in webhook mode."""
        if self.settings.telegram_mode != "webhook":
            return []
        assert self.settings.telegram_webhook_secret is not None
        return telegram_webhook_endpoints(
            self.settings.telegram_webhook_secret.get_secret_value(), self.feed_update
        )

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[TelegramComponent]:
        """The bot, its outbox sender and the operator's day, started in this order and
        stopped in reverse: updates stop first, the sender finishes what is in flight, and
        the client closes last. Returns at once: Telegram is reached in the background."""
        if self.pairing is not None:
            log.warning(
                "Pairing code: %s (no operator chat yet: send /start %s to the bot from your "
                "Telegram account, and that chat becomes the operator)",
                self.pairing.code,
                self.pairing.code,
            )
        async with Components() as parts:
            await parts.start("the Telegram client", self._client())
            await parts.start("the outbox sender", self.sender)
            await parts.start("the operator's day", self.day.loop)
            await parts.start("Telegram updates", self._updates())
            yield self

    async def feed_update(self, document: dict[str, Any]) -> bool:
        """Process one webhook update through the handlers; False while not started yet."""
        if not self.application.running:
            return False
        update = Update.de_json(document, self.application.bot)
        # As polled updates are: one chat's in order (bot/telegram/update_order.py).
        await self.application.update_processor.process_update(
            update, self.application.process_update(update)
        )
        return True

    async def _connect(self) -> None:
        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception(_unreachable),
                wait=wait_exponential(
                    multiplier=self.tuning.retry_base_s, max=self.tuning.start_retry_max_s
                ),
                before_sleep=_log_unreachable,
            ):
                with attempt:
                    await self._connect_once()
        except InvalidToken:
            log.critical("Telegram refused TELEGRAM_BOT_TOKEN: the bot stays off")
            return
        except TelegramError as error:
            # Telegram answered, and said no (a webhook URL it will not call, a bot removed):
            # trying again would get the same answer.
            log.critical("Telegram refused to start the bot (%s): the bot stays off", error)
            return
        except Exception:
            log.critical("the bot could not start: it stays off", exc_info=True)
            return
        self.ready = True
        log.info("Telegram bot connected (%s mode)", self.settings.telegram_mode)
        try:
            if await card_upkeep.queue_missing_cards(self._db, self.settings):
                self.sender.kick()
        except Exception as error:  # they get their cards at the next start
            log.warning("could not queue the cards of drafts stored meanwhile: %r", error)

    async def _after_pairing(self) -> None:
        """The new operator gets the Mini App's menu and the cards of drafts stored meanwhile."""
        await set_menu_button(self.application.bot, self.settings)
        if await card_upkeep.queue_missing_cards(self._db, self.settings):
            self.sender.kick()

    async def _refresh_card(self, draft_id: str) -> None:
        await card_upkeep.refresh(self._db, self.settings, draft_id)

    async def _connect_once(self) -> None:
        application = self.application
        await application.initialize()
        await _optional("the command list", application.bot.set_my_commands(COMMANDS))
        await _optional(
            "the Mini App's menu button", set_menu_button(application.bot, self.settings)
        )
        if not application.running:
            await application.start()
        if self.settings.telegram_mode == "webhook":
            assert self.settings.telegram_webhook_secret is not None
            await application.bot.set_webhook(
                url=self.settings.public_webhook_url or "",
                secret_token=self.settings.telegram_webhook_secret.get_secret_value(),
                allowed_updates=ALLOWED_UPDATES,
            )
        elif application.updater is not None and not application.updater.running:
            await application.updater.start_polling(
                timeout=timedelta(seconds=self.tuning.polling_timeout_s),
                allowed_updates=ALLOWED_UPDATES,
                error_callback=_log_polling_error,
            )

    @contextlib.asynccontextmanager
    async def _client(self) -> AsyncIterator[None]:
        """The bot's HTTP client, closed once nothing sends any more."""
        try:
            yield
        finally:
            await self.application.shutdown()
            await self.application.bot.shutdown()

    @contextlib.asynccontextmanager
    async def _updates(self) -> AsyncIterator[None]:
        """Reaching Telegram (retried in the background), then taking updates until exit."""
        connecting = asyncio.create_task(self._connect(), name="telegram-connect")
        try:
            yield
        finally:
            connecting.cancel()
            await asyncio.gather(connecting, return_exceptions=True)
            self.ready = False
            application = self.application
            if application.updater is not None and application.updater.running:
                await application.updater.stop()
            if application.running:
                await application.stop()


def build_application(settings: Settings, tuning: TelegramTuning) -> Application:
    assert settings.telegram_bot_token is not None
    base = settings.telegram_api_base_url.rstrip("/")

    def request(pool_size: int, read_timeout: float) -> AiohttpRequest:
        return AiohttpRequest(
            connection_pool_size=pool_size,
            read_timeout=read_timeout,
            connect_timeout=tuning.connect_timeout_s,
            write_timeout=tuning.write_timeout_s,
            pool_timeout=tuning.pool_timeout_s,
        )

    builder = (
        Application.builder()
        .token(settings.telegram_bot_token.get_secret_value())
        .base_url(f"{base}/bot")
        .base_file_url(f"{base}/file/bot")
        # No link previews: a card's job link must not grow a preview of the job's page.
        .defaults(
            Defaults(
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        )
        .request(request(CONCURRENT_UPDATES + 8, tuning.read_timeout_s))
        # getUpdates adds its long-poll duration to this read timeout.
        .get_updates_request(request(256, tuning.connect_timeout_s))
        .concurrent_updates(ChatOrderedUpdates(CONCURRENT_UPDATES))
    )
    if settings.telegram_mode == "webhook":
        builder = builder.updater(None)
    application = builder.build()
    register_handlers(application)
    return application


def _unreachable(error: BaseException) -> bool:
    """Worth trying again: no answer, a 5xx or a 429; not a request Telegram refused."""
    return isinstance(error, (NetworkError, RetryAfter)) and not isinstance(error, BadRequest)


async def _optional(what: str, step: Awaitable[object]) -> None:
    """A start-up step the bot works without: refused by Telegram, it is logged and skipped
    (not retried, and the bot still starts); unreachable, it is retried with the rest."""
    try:
        await step
    except (BadRequest, Forbidden) as error:
        log.warning("Telegram refused %s (%s): the bot starts without it", what, error)


def _log_unreachable(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    wait = state.next_action.sleep if state.next_action else 0
    log.warning("cannot reach Telegram (%r); retrying in %.1fs", error, wait)


def _log_polling_error(error: TelegramError) -> None:
    log.warning("polling Telegram failed: %r", error)
