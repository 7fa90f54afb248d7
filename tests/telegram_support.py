"""Running the whole service in-process against the fake Telegram, and reading what it did."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.delivery.tuning import DeliveryTuning
from bot.service import serve
from bot.settings import Settings
from bot.telegram.tuning import TelegramTuning
from storage.engine import create_engine, session_factory
from storage.models import Draft, Event, OutboxMessage
from tests.conftest import API_TOKEN
from tests.fake_telegram import FakeTelegram
from tests.telegram_updates import OPERATOR_ID, callback_query_update, message_update

FAST = TelegramTuning(
    connect_timeout_s=0.5,
    read_timeout_s=3.0,
    write_timeout_s=1.0,
    pool_timeout_s=1.0,
    deliver_wait_s=1.0,
    retry_base_s=0.1,
    retry_max_s=0.4,
    idle_check_s=0.2,
    polling_timeout_s=1,
    start_retry_max_s=0.3,
    shutdown_grace_s=1.0,
    max_attempts=6,
).unpaced()
"""Timeouts and delays small enough for tests, large enough for a loaded 2-core machine; no
pacing (tests/test_telegram_delivery.py turns it on where it is the subject)."""

DRAFT = {
    "client": "Acme <b>&_*[ Ltd",
    "job_title": "Telegram bot <script>",
    "message": "Can you build it by Friday? 🙏 <i>thanks</i> & bye",
    "draft_text": "Hi! Yes — *bold* _under_ [link] <b>&amp; 🎉🚀",
    "confidence": 85,
    "context": {"job_link": "https://upwork.example/jobs/1?a=1&b=2"},
}


WEBHOOK_SECRET = "wh-Secret_7f3a9c"


def mode_settings(make: Callable[..., Settings], mode: str, **overrides: Any) -> Settings:
    """Settings (from `telegram_settings`) for polling or webhook mode, on a free port."""
    port = free_port()
    if mode == "polling":
        return make(port=port, **overrides)
    values: dict[str, Any] = {
        "telegram_mode": "webhook",
        "telegram_webhook_url": f"http://127.0.0.1:{port}/webhook/telegram",
        "telegram_webhook_secret": WEBHOOK_SECRET,
    }
    return make(port=port, **(values | overrides))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Service:
    """The service running in this test's loop: its HTTP client, database and fake Telegram."""

    settings: Settings
    http: aiohttp.ClientSession
    db: async_sessionmaker[AsyncSession]
    fake: FakeTelegram

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.port}"

    async def post_draft(self, **fields: Any) -> dict[str, Any]:
        async with self.http.post(f"{self.url}/api/draft/create", json=DRAFT | fields) as r:
            assert r.status == 201, await r.text()
            return dict(await r.json())

    async def health(self) -> dict[str, Any]:
        async with self.http.get(f"{self.url}/health") as response:
            return dict(await response.json())

    async def draft(self, draft_id: str) -> Draft:
        async with self.db() as session:
            draft = await session.get(Draft, draft_id)
        assert draft is not None
        return draft

    async def events(self, prefix: str = "draft.") -> list[Event]:
        async with self.db() as session:
            rows = await session.scalars(
                select(Event).where(Event.event.startswith(prefix)).order_by(Event.id)  # type: ignore[attr-defined]
            )
            return list(rows.all())

    async def outbox(self) -> list[OutboxMessage]:
        async with self.db() as session:
            return list(
                (await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all()
            )  # type: ignore[arg-type]

    def card(self, draft_id: str) -> dict[str, Any]:
        """The draft's card as the operator sees it now (the latest one, if it was re-sent)."""
        return self.fake.message(
            self.settings.telegram_chat_id or 0, self.card_message_id(draft_id)
        )

    async def tap(
        self, action: str, draft_id: str, *, user_id: int = OPERATOR_ID, chat_id: int | None = None
    ) -> str:
        """Tap a button under the draft's card, once it is there (a draft's request may
        answer before its card reaches Telegram); returns the callback query id."""
        message_id = await self.fake.wait_for(
            lambda: self._card_id(draft_id), what=f"the card of draft {draft_id}"
        )
        return self.tap_message(
            f"{action}:{draft_id}", message_id, user_id=user_id, chat_id=chat_id
        )

    def tap_message(
        self,
        data: str,
        message_id: int = 1,
        *,
        user_id: int = OPERATOR_ID,
        chat_id: int | None = None,
    ) -> str:
        """Tap the button carrying `data` under message `message_id`; returns the callback
        query id (`answered` waits for its answer)."""
        update = callback_query_update(
            data, user_id=user_id, chat_id=chat_id, message_id=message_id
        )
        self.fake.inject_update(update)
        return str(update["callback_query"]["id"])

    def card_message_id(self, draft_id: str) -> int:
        found = self._card_id(draft_id)
        if found is None:
            raise AssertionError(f"no card for draft {draft_id}")
        return found

    def _card_id(self, draft_id: str) -> int | None:
        for (_chat, message_id), message in reversed(list(self.fake.messages.items())):
            if draft_id in message["text"] and message.get("reply_markup"):
                return message_id
        for (_chat, message_id), message in reversed(list(self.fake.messages.items())):
            if draft_id in message["text"]:
                return message_id
        return None

    def say(self, text: str, *, user_id: int = OPERATOR_ID, chat_id: int | None = None) -> None:
        self.fake.inject_update(message_update(text, user_id=user_id, chat_id=chat_id))

    def answer(self, callback_id: str) -> dict[str, Any] | None:
        for call in self.fake.calls_to("answerCallbackQuery"):
            if call.params.get("callback_query_id") == callback_id:
                return call.params
        return None

    async def answered(self, callback_id: str) -> dict[str, Any]:
        return await self.fake.wait_for(  # type: ignore[no-any-return]
            lambda: self.answer(callback_id), what=f"an answer to {callback_id}"
        )


def buttons(message: dict[str, Any]) -> list[str]:
    """Every button of a message, row by row: its callback data, or `copy` / `url`."""
    return [
        button.get("callback_data") or ("copy" if "copy_text" in button else "url")
        for row in message.get("reply_markup", {}).get("inline_keyboard", [])
        for button in row
    ]


@contextlib.asynccontextmanager
async def running_service(
    settings: Settings,
    fake: FakeTelegram,
    *,
    wait_ready: bool = True,
    tuning: TelegramTuning = FAST,
    delivery_tuning: DeliveryTuning | None = None,
) -> AsyncIterator[Service]:
    """serve() in this loop until the block ends; `settings.port` must be a free port."""
    stop = asyncio.Event()
    task = asyncio.create_task(
        serve(settings, stop, telegram_tuning=tuning, delivery_tuning=delivery_tuning)
    )
    engine = create_engine(settings.database_url)
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {API_TOKEN}"}) as http:
        service = Service(settings, http, session_factory(engine), fake)
        try:
            await _wait_until_up(service, task, wait_ready)
            yield service
        finally:
            stop.set()
            await asyncio.wait_for(task, timeout=30)
            await engine.dispose()


async def _wait_until_up(service: Service, task: asyncio.Task[None], wait_ready: bool) -> None:
    async def up() -> bool:
        if task.done():
            task.result()  # raises what made serve() end
            raise AssertionError("serve() ended early")
        try:
            health = await service.health()
        except aiohttp.ClientError:
            return False
        return not wait_ready or health.get("telegram") in ("ok", "pairing")

    await service.fake.wait_for(up, timeout=15, what="the service to start")
