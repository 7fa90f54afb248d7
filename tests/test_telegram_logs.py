"""The bot token never reaches the logs, whatever Telegram does."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import pytest

from bot.logs import configure_logging
from bot.settings import Settings
from tests.conftest import TELEGRAM_TOKEN
from tests.fake_telegram import FakeTelegram
from tests.telegram_support import free_port, running_service


async def exercise(service_settings: Settings, fake: FakeTelegram) -> None:
    """Start, notify, fail (500, refused connections), recover, approve, stop."""
    async with running_service(service_settings, fake) as service:
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
    assert any(r.name.startswith("bot.telegram") for r in caplog.records)
    for record in caplog.records:
        assert TELEGRAM_TOKEN not in record.getMessage()
        assert TELEGRAM_TOKEN not in (record.exc_text or "")


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
) -> None:
    settings = telegram_settings(port=free_port(), log_level="DEBUG")
    configure_logging(settings.log_level, settings.secret_values())
    await exercise(settings, fake_telegram)
    written = capsys.readouterr().err
    assert "Calling Bot API endpoint" in written  # PTB's debug lines were there
    assert TELEGRAM_TOKEN not in written
    assert TELEGRAM_TOKEN.split(":")[1] not in written
