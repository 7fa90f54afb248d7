"""Typed application keys, and the interfaces web/ needs from the rest of the process."""

from __future__ import annotations

from typing import Literal, Protocol

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage.hotpath import HotPath
from storage.models import Draft, Lead, Thread
from storage.repo.deliveries import Wake
from storage.repo.draft_intake import Card
from web.config import Charts, WebSettings

TelegramStatus = Literal["ok", "disabled", "degraded", "pairing"]


class DraftNotifier(Protocol):
    """Tells the operator about new drafts; implemented by the bot."""

    @property
    def status(self) -> TelegramStatus: ...

    def card(
        self, draft: Draft, thread: Thread | None = None, *, notice_outbox_id: int | None = None
    ) -> Card | None:
        """The draft's card for the operator, to store with the draft; None: nobody to tell.
        `thread`: the draft's thread, when it has one."""

    def lead_card(self, lead: Lead) -> Card | None:
        """A new lead's card for the operator (GO leads only); None: nothing to send."""

    def client_message(
        self, *, client: str, job_title: str | None, message: str, citizen: str
    ) -> Card | None:
        """The operator's message about a client's message that just arrived, which the
        citizen session answering it will edit as it goes; None: nobody to tell."""

    async def deliver(self, outbox_id: int | None) -> bool:
        """Try to send it now, within a short bound; True once Telegram has it."""

    def kick(self) -> None:
        """Rows were queued with `storage.repo.outbox.enqueue` (and committed): send them now."""

    async def draft_changed(self, *, session: AsyncSession, draft: Draft) -> None:
        """The draft changed (see `storage.repo.draft_actions`): queue, in the caller's
        transaction, the edits that bring the messages showing it up to date."""


class DisabledNotifier:
    """The notifier while Telegram is off: drafts are stored, nothing is sent."""

    status: TelegramStatus = "disabled"

    def card(
        self, draft: Draft, thread: Thread | None = None, *, notice_outbox_id: int | None = None
    ) -> Card | None:
        return None

    def lead_card(self, lead: Lead) -> Card | None:
        return None

    def client_message(
        self, *, client: str, job_title: str | None, message: str, citizen: str
    ) -> Card | None:
        return None

    async def deliver(self, outbox_id: int | None) -> bool:
        return False

    def kick(self) -> None:
        pass

    async def draft_changed(self, *, session: AsyncSession, draft: Draft) -> None:
        pass


class SessionWaker(Protocol):
    """The citizen session runner, as far as the web layer needs it."""

    def wake(self) -> None:
        """A session was queued: start it now if its citizen is free."""


SETTINGS: web.AppKey[WebSettings] = web.AppKey("settings")
ENGINE = web.AppKey("engine", AsyncEngine)
DB = web.AppKey("db", async_sessionmaker[AsyncSession])
HOT = web.AppKey("hot_path", HotPath)
NOTIFIER = web.AppKey("notifier", DraftNotifier)
RUNNER = web.AppKey("runner", SessionWaker)
CHARTS = web.AppKey("charts", Charts)
"""Absent: this process draws no charts (the Mini App's chart answers 404)."""
DELIVER: web.AppKey[Wake | None] = web.AppKey("deliver")
"""The delivery worker's wake; None: deliveries are off (DELIVERY_WEBHOOK_URL unset)."""
