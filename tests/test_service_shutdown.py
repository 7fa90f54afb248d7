"""bot/service.py: every component of the service starts and stops one way (`Components`), in
the documented order: deliveries before the bot takes taps; citizens stopped first, while the
database and the outbox sender are still there; Telegram stopped after the web server."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot.settings import Settings
from storage.models import CitizenSession, OutboxMessage
from tests.citizens_support import FakeClaude
from tests.delivery_receiver import SECRET
from tests.fake_telegram import FakeTelegram
from tests.telegram_support import free_port, running_service
from tests.test_citizens_telegram import wait_text

pytestmark = pytest.mark.usefixtures("citizens_home")

STARTED = [
    "signal handlers",
    "the database engine",
    "deliveries",
    "retention",
    "the Telegram client",
    "the outbox sender",
    "the operator's day",
    "Telegram updates",
    "Telegram",
    "the web server",
    "citizens",
    "session wake-ups",
    "the scheduler",
]
STOPPED = [
    "the scheduler",
    "session wake-ups",
    "citizens",
    "the web server",
    "Telegram",
    "Telegram updates",
    "the operator's day",
    "the outbox sender",
    "the Telegram client",
    "retention",
    "deliveries",
    "the database engine",
    "signal handlers",
]


async def test_a_session_killed_at_shutdown_is_failed_and_noticed_before_the_sender_stops(
    telegram_settings: Callable[..., Settings],
    fake_telegram: FakeTelegram,
    fake_claude: FakeClaude,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="storage.loops")
    settings = telegram_settings(
        port=free_port(),
        claude_bin=str(fake_claude.bin),
        citizen_timeout_s=30,
        delivery_webhook_url="http://127.0.0.1:9/hook",
        delivery_webhook_secret=SECRET,
    )
    async with running_service(settings, fake_telegram) as service:
        service.say("/trigger daniel long job\nFAKE:child\nFAKE:sleep=60")
        await wait_text(service, "session running", "the session to start")

    started = [r.args[0] for r in caplog.records if r.msg == "started %s"]
    stopping = {r.args[0]: r.created for r in caplog.records if r.msg == "stopping %s"}
    assert started == STARTED
    assert list(stopping) == STOPPED
    async with service.db() as session:
        [row] = (await session.scalars(select(CitizenSession))).all()
        notices = (
            await session.scalars(
                select(OutboxMessage).where(OutboxMessage.text.contains("session failed"))
            )
        ).all()
    assert row.status == "failed" and "shut down" in (row.error or "")
    # Its notices (the running one edited, a reply saying why) were queued before the sender
    # began to stop: sent now or at the next start, never lost.
    sender_stopping = datetime.fromtimestamp(stopping["the outbox sender"], UTC)
    assert len(notices) == 2
    assert all(notice.created_at.replace(tzinfo=UTC) < sender_stopping for notice in notices)
