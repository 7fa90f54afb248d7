"""Starting the bot: what Telegram refuses is not retried as if it were unreachable. A
refused extra (the command list, the menu button) is logged and the bot starts without it;
a refused essential step (the webhook) says so loudly, once, and the bot stays off."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from bot.settings import Settings
from tests.fake_telegram import FakeTelegram
from tests.telegram_support import mode_settings, running_service
from tests.telegram_updates import message_update


async def test_a_refused_command_list_is_skipped_and_the_bot_starts(
    telegram_settings: Callable[..., Settings],
    fake_telegram: FakeTelegram,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    fake_telegram.fail_next(
        "setMyCommands", status=400, description="Bad Request: BOT_COMMAND_INVALID"
    )
    settings = mode_settings(telegram_settings, "polling")
    async with running_service(settings, fake_telegram) as service:
        assert (await service.health())["telegram"] == "ok"
        fake_telegram.inject_update(message_update("/help"))
        await fake_telegram.wait_for(
            lambda: any("/drafts" in m["text"] for m in fake_telegram.delivered()),
            what="the answer to /help",
        )
    assert len(fake_telegram.calls_to("setMyCommands", ok=None)) == 1
    assert "Telegram refused the command list (Bot_command_invalid)" in caplog.text
    assert "cannot reach Telegram" not in caplog.text


async def test_a_refused_webhook_stops_the_bot_once_and_loudly(
    telegram_settings: Callable[..., Settings],
    fake_telegram: FakeTelegram,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    refusal = "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
    fake_telegram.fail_next("setWebhook", status=400, description=refusal, times=20)
    settings = mode_settings(telegram_settings, "webhook")
    async with running_service(settings, fake_telegram, wait_ready=False) as service:
        await fake_telegram.wait_for(
            lambda: "Telegram refused to start the bot" in caplog.text, what="the refusal logged"
        )
        assert (await service.health())["telegram"] == "degraded"
    [critical] = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert critical.getMessage() == (
        "Telegram refused to start the bot (Bad webhook: an https url must be provided for "
        "webhook): the bot stays off"
    )
    assert len(fake_telegram.calls_to("setWebhook", ok=None)) == 1
