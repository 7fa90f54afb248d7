"""The notifier the web layer calls for new drafts (web.keys.DraftNotifier), and `kick()`."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession

from bot.settings import Settings
from bot.telegram import callbacks, cards, lead_cards, whole_text
from bot.telegram.sender import OutboxSender
from citizens import thread_notices
from storage.models import Draft, Lead, Thread
from storage.repo import inbox
from storage.repo.draft_intake import Card
from web.keys import TelegramStatus


class TelegramNotifier:
    def __init__(
        self, settings: Settings, sender: OutboxSender, bot_ready: Callable[[], bool]
    ) -> None:
        self._settings = settings
        self._mini_app_url = settings.mini_app_url
        self._sender = sender
        self._bot_ready = bot_ready

    @property
    def _chat_id(self) -> int | None:
        """The operator's chat, read at each use: a pairing may set it while running."""
        return self._settings.telegram_chat_id

    @property
    def status(self) -> TelegramStatus:
        """ "degraded" while Telegram is unreachable or messages wait on failed attempts;
        "pairing" while no operator chat is known (CONTRACT §15)."""
        if self._sender.failing or not self._bot_ready():
            return "degraded"
        return "pairing" if self._settings.telegram_chat_id is None else "ok"

    def card(
        self, draft: Draft, thread: Thread | None = None, *, notice_outbox_id: int | None = None
    ) -> Card | None:
        """The new draft's card for the operator's chat; None without one. `thread` is the
        draft's thread, when it has one (how long the client has waited, the job link);
        `notice_outbox_id` the notice of the session that drafted it, which the card takes
        over (one message per client message, CONTRACT §14)."""
        if self._chat_id is None:
            return None
        facts = cards.Facts(
            waiting_since=inbox.waiting_since_of(draft, thread),
            job_link=thread.job_link if thread else None,
        )
        return Card(
            chat_id=self._chat_id,
            text=cards.text(draft, facts, self._settings),
            reply_markup=cards.keyboard(
                draft, facts, chat_id=self._chat_id, mini_app_url=self._mini_app_url
            ),
            edit_outbox_id=notice_outbox_id,
        )

    def lead_card(self, lead: Lead) -> Card | None:
        """A GO lead's card with its buttons; NO-GO leads send nothing (the digest counts them)."""
        if self._chat_id is None or lead.decision != "GO" or lead.id is None:
            return None
        return Card(
            chat_id=self._chat_id,
            text=lead_cards.lead_card(lead),
            reply_markup=callbacks.lead_keyboard(lead.id),
        )

    def client_message(
        self, *, client: str, job_title: str | None, message: str, citizen: str
    ) -> Card | None:
        """The operator's message about a client's message, sent at once (CONTRACT §14)."""
        if self._chat_id is None:
            return None
        text = thread_notices.arrived_text(
            client=client, job_title=job_title, message=message, citizen=citizen
        )
        return Card(chat_id=self._chat_id, text=text)

    async def deliver(self, outbox_id: int | None) -> bool:
        return outbox_id is not None and await self._sender.deliver(outbox_id)

    def kick(self) -> None:
        """Rows were queued with `storage.repo.outbox.enqueue`: send them now."""
        self._sender.kick()

    async def draft_changed(self, *, session: AsyncSession, draft: Draft) -> None:
        """Queue, in the caller's transaction, the edits that show the draft's new state on
        every message showing it (buttons only while it is pending); `kick()` after commit.
        A draft just approved whose text its card cannot hold gets it whole, in blocks."""
        await cards.queue_refresh(session=session, settings=self._settings, draft=draft)
        if draft.status == "approved":
            await whole_text.queue_follow_up(session=session, settings=self._settings, draft=draft)
