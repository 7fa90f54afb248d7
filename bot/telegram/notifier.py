"""The notifier the web layer calls for new drafts (web.keys.DraftNotifier), and `kick()`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.settings import Settings
from bot.telegram import callbacks, render
from bot.telegram.sender import OutboxSender
from storage.models import Draft
from storage.repo import outbox
from storage.repo.draft_intake import Card
from web.keys import TelegramStatus


class TelegramNotifier:
    def __init__(
        self, settings: Settings, sender: OutboxSender, bot_ready: Callable[[], bool]
    ) -> None:
        self._chat_id = settings.telegram_chat_id
        self._mini_app_url = settings.mini_app_url
        self._sender = sender
        self._bot_ready = bot_ready

    @property
    def status(self) -> TelegramStatus:
        """ "degraded" while Telegram is unreachable or messages wait on failed attempts."""
        return "degraded" if self._sender.failing or not self._bot_ready() else "ok"

    def card(self, draft: Draft) -> Card | None:
        """The draft's card for the operator's chat; None without one."""
        if self._chat_id is None:
            return None
        return Card(
            chat_id=self._chat_id,
            text=render.draft_card(draft),
            reply_markup=self._keyboard(draft.id, self._chat_id),
        )

    async def deliver(self, outbox_id: int | None) -> bool:
        return outbox_id is not None and await self._sender.deliver(outbox_id)

    def kick(self) -> None:
        """Rows were queued with `storage.repo.outbox.enqueue`: send them now."""
        self._sender.kick()

    async def draft_changed(self, *, session: AsyncSession, draft: Draft) -> None:
        """Queue the edit that shows the draft's new state on its card (buttons only while
        it is pending)."""
        if self._chat_id is None or draft.telegram_message_id is None:
            return
        pending = draft.status == "pending"
        footer = ""
        if draft.status in ("approved", "rejected"):
            footer = render.decision_footer(
                draft.status, render.who(None, draft.decided_by), draft.decided_at
            )
        await outbox.enqueue(
            session=session,
            chat_id=self._chat_id,
            text=render.draft_card(draft, title="Draft", footer=footer),
            reply_markup=self._keyboard(draft.id, self._chat_id) if pending else None,
            edit_message_id=draft.telegram_message_id,
        )

    def _keyboard(self, draft_id: str, chat_id: int) -> dict[str, Any]:
        return callbacks.with_mini_app(
            callbacks.draft_keyboard(draft_id),
            draft_id,
            chat_id=chat_id,
            mini_app_url=self._mini_app_url,
        )
