"""Webhook mode: setWebhook with the secret at start, updates checked and fed to the handlers."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bot.settings import Settings
from tests.fake_telegram import FakeTelegram
from tests.telegram_support import WEBHOOK_SECRET, mode_settings, running_service
from tests.telegram_updates import callback_query_update
from tests.test_telegram_decisions import approve_scenario

SECRET = WEBHOOK_SECRET


def webhook_settings(make: Callable[..., Settings], path: str = "/webhook/telegram") -> Settings:
    settings = mode_settings(make, "webhook")
    return make(
        port=settings.port,
        telegram_mode="webhook",
        telegram_webhook_url=f"http://127.0.0.1:{settings.port}{path}",
        telegram_webhook_secret=SECRET,
    )


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_polling_and_webhook_modes_pass_the_same_approval_scenario(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram, mode: str
) -> None:
    settings = mode_settings(telegram_settings, mode)
    async with running_service(settings, fake_telegram) as service:
        await approve_scenario(service)

    if mode == "webhook":
        [set_webhook] = fake_telegram.calls_to("setWebhook")
        assert set_webhook.params["url"] == settings.telegram_webhook_url
        assert set_webhook.params["secret_token"] == SECRET
        assert fake_telegram.calls_to("getUpdates", ok=None) == []
        assert {status for _, status in fake_telegram.webhook_deliveries} == {200}
    else:
        assert fake_telegram.calls_to("setWebhook") == []
        assert fake_telegram.calls_to("getUpdates")
    commands = [
        c["command"] for c in fake_telegram.calls_to("setMyCommands")[0].params["commands"]
    ]
    assert {"drafts", "leads", "events", "cancel", "help"} <= set(commands)


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}, {"X-Telegram-Bot-Api-Secret-Token": ""}],
    ids=["none", "wrong", "empty"],
)
async def test_an_update_without_the_right_secret_is_refused_and_dropped(
    telegram_settings: Callable[..., Settings],
    fake_telegram: FakeTelegram,
    headers: dict[str, str],
) -> None:
    async with running_service(webhook_settings(telegram_settings), fake_telegram) as service:
        draft_id = (await service.post_draft())["draft_id"]
        update = callback_query_update(f"approve:{draft_id}") | {"update_id": 1}
        for path in ("/webhook/telegram", "/webhook/telegram-callback"):
            async with service.http.post(
                service.url + path, json=update, headers=headers
            ) as response:
                assert response.status == 401
                body = await response.json()
            assert body["error"]["code"] == "unauthorized"
            assert SECRET not in str(body)

        assert (await service.draft(draft_id)).status == "pending"
        assert fake_telegram.calls_to("answerCallbackQuery") == []


async def test_the_alias_route_and_the_answer_to_a_valid_update(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    settings = webhook_settings(telegram_settings, path="/webhook/telegram-callback")
    async with running_service(settings, fake_telegram) as service:
        draft_id = (await service.post_draft())["draft_id"]
        update = callback_query_update(f"reject:{draft_id}") | {"update_id": 10}
        async with service.http.post(
            f"{service.url}/webhook/telegram-callback",
            json=update,
            headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
        ) as response:
            assert response.status == 200
            assert await response.json() == {"ok": True}
        # The handlers ran before the answer: the decision is already stored.
        assert (await service.draft(draft_id)).status == "rejected"

        async with service.http.post(
            f"{service.url}/webhook/telegram",
            data=b"{not json",
            headers={
                "X-Telegram-Bot-Api-Secret-Token": SECRET,
                "Content-Type": "application/json",
            },
        ) as response:
            assert response.status == 400
        async with service.http.get(f"{service.url}/api/openapi.json") as response:
            paths = (await response.json())["paths"]
        for path in ("/webhook/telegram", "/webhook/telegram-callback"):
            assert paths[path]["post"]["security"] == [{"telegram_secret": []}]
