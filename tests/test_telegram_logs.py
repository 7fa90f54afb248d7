"""The bot token never reaches the logs, whatever Telegram does.

Two guards, each with a test that fails without it: the transport re-tells errors that quote
the token-bearing URL (bot/telegram/aiohttp_request.py), and the configured logging redacts
every secret from whatever else a record carries (bot/logs.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import pytest

from bot.logs import configure_logging
from bot.settings import Settings
from storage.repo import outbox
from tests.conftest import TELEGRAM_TOKEN
from tests.fake_telegram import FakeTelegram
from tests.secret_guard import GuardHandler
from tests.telegram_support import free_port, running_service
from tests.telegram_updates import OPERATOR_ID


async def exercise(
    service_settings: Settings, fake: FakeTelegram, refusal: str | None = None
) -> None:
    """Start, notify, fail (500, refused connections), recover, approve; with `refusal`, one
    more message is refused for good with that description; stop."""
    async with running_service(service_settings, fake) as service:
        if refusal is not None:
            fake.fail_next("sendMessage", status=400, description=refusal, matching="refused")
            async with service.db() as session, session.begin():
                await outbox.enqueue(session=session, chat_id=OPERATOR_ID, text="refused")
            await fake.wait_for(lambda: fake.calls_to("sendMessage", ok=False), what="refusal")
        fake.fail_next("sendMessage", status=500)
        draft_id = (await service.post_draft())["draft_id"]
        await fake.refuse_connections()
        await service.post_draft(client="During the outage")
        await fake.accept_connections()
        await fake.wait_for(lambda: len(fake.sent_messages()) >= 2, timeout=10)
        await service.answered(await service.tap("approve", draft_id))


async def test_at_info_level_no_record_carries_the_token(
    telegram_settings: Callable[..., Settings],
    fake_telegram: FakeTelegram,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    await exercise(telegram_settings(port=free_port()), fake_telegram)
    # A Bot API root aiohttp cannot use: its error quotes the whole URL, token included.
    unusable = telegram_settings(port=free_port(), telegram_api_base_url="ftp://127.0.0.1")
    async with running_service(unusable, fake_telegram, wait_ready=False) as service:
        await service.post_draft()
        await fake_telegram.wait_for(
            lambda: "NonHttpUrlClientError: ftp://127.0.0.1/<redacted>/sendMessage" in caplog.text,
            what="a failed send to be logged",
        )
    assert any(r.name.startswith("bot.telegram") for r in caplog.records)
    for record in caplog.records:
        text = record.getMessage() + (record.exc_text or "")
        assert TELEGRAM_TOKEN.split(":")[1] not in text


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root, aiosqlite = logging.getLogger(), logging.getLogger("aiosqlite")
    handlers, level = root.handlers[:], root.level
    # Its worker thread logs at DEBUG even after the test, when capsys has closed the stream.
    aiosqlite.setLevel(logging.INFO)
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    aiosqlite.setLevel(logging.NOTSET)
    logging.captureWarnings(False)


async def test_at_debug_level_the_configured_logging_redacts_it(
    telegram_settings: Callable[..., Settings],
    fake_telegram: FakeTelegram,
    capsys: pytest.CaptureFixture[str],
    restore_logging: None,
    secret_guard: GuardHandler,
) -> None:
    settings = telegram_settings(port=free_port(), log_level="DEBUG")
    configure_logging(settings.log_level, settings.secret_values())
    # A proxy in front of the Bot API that quotes the path it refuses, token and all.
    refusal = f"Bad Request: no route for POST /bot{TELEGRAM_TOKEN}/sendMessage"
    await exercise(settings, fake_telegram, refusal)
    written = capsys.readouterr().err
    assert "Calling Bot API endpoint" in written  # PTB's debug lines were there
    assert "refused for good: No route for post /bot***/" in written  # the proxy's answer
    assert TELEGRAM_TOKEN not in written
    assert TELEGRAM_TOKEN.split(":")[1] not in written
    # The raw record did carry it (the guard watches records before any redaction).
    assert secret_guard.guard.take_findings()
