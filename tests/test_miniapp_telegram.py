"""The Mini App in the chat (CONTRACT §5, §12): its `web_app` button on cards in private
chats, the chat menu button, and the cards following what the Mini App does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.settings import Settings
from tests.fake_telegram import FakeTelegram
from tests.miniapp_support import ALLOWED_ID, headers
from tests.telegram_support import Service, free_port, running_service
from tests.telegram_updates import OPERATOR_ID

PUBLIC = "https://scopelock.example"
GROUP_ID = -100123


def buttons(card: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for row in card.get("reply_markup", {}).get("inline_keyboard", []) for b in row]


def has_card(service: Service, draft_id: str) -> bool:
    return any(draft_id in message["text"] for message in service.fake.messages.values())


async def mini_app(service: Service, draft_id: str, **body: Any) -> dict[str, Any]:
    async with service.http.post(
        f"{service.url}/app/api/draft/{draft_id}", json=body, headers=headers()
    ) as response:
        assert response.status == 200, await response.text()
        return dict(await response.json())


async def test_cards_in_a_private_chat_open_the_editor_and_the_menu_opens_the_app(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    settings = telegram_settings(
        port=free_port(), public_url=PUBLIC, telegram_allowed_user_ids=str(ALLOWED_ID)
    )
    async with running_service(settings, fake_telegram) as service:
        draft_id = (await service.post_draft())["draft_id"]
        card = await fake_telegram.wait_for(lambda: service.card(draft_id), what="the card")

        [web_app] = [b for b in buttons(card) if "web_app" in b]
        assert web_app["web_app"]["url"] == f"{PUBLIC}/app?draft={draft_id}"
        assert {b.get("callback_data") for b in buttons(card)} >= {f"approve:{draft_id}"}
        for chat_id in (OPERATOR_ID, ALLOWED_ID):
            menu = fake_telegram.menu_buttons[chat_id]
            assert menu["type"] == "web_app" and menu["web_app"]["url"] == f"{PUBLIC}/app"
        assert None not in fake_telegram.menu_buttons  # strangers keep Telegram's default


async def test_without_https_there_is_no_mini_app_in_the_chat(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    settings = telegram_settings(port=free_port(), public_url="http://scopelock.example")
    async with running_service(settings, fake_telegram) as service:
        draft_id = (await service.post_draft())["draft_id"]
        card = await fake_telegram.wait_for(lambda: service.card(draft_id), what="the card")
        assert not [b for b in buttons(card) if "web_app" in b]
        assert buttons(card)
        assert fake_telegram.calls_to("setChatMenuButton", ok=None) == []


async def test_a_group_card_has_no_web_app_button(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    # Telegram refuses web_app buttons outside private chats (the fake does too).
    settings = telegram_settings(port=free_port(), public_url=PUBLIC, telegram_chat_id=GROUP_ID)
    async with running_service(settings, fake_telegram) as service:
        draft_id = (await service.post_draft())["draft_id"]
        card = await fake_telegram.wait_for(lambda: service.card(draft_id), what="the card")
        assert buttons(card) and not [b for b in buttons(card) if "web_app" in b]
        assert fake_telegram.calls_to("setChatMenuButton", ok=None) == []


async def test_the_card_follows_what_the_mini_app_does(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    settings = telegram_settings(port=free_port(), public_url=PUBLIC)
    async with running_service(settings, fake_telegram) as service:
        edited, approved = [(await service.post_draft())["draft_id"] for _ in range(2)]
        rejected, redrafted = [(await service.post_draft())["draft_id"] for _ in range(2)]
        await fake_telegram.wait_for(
            lambda: all(has_card(service, d) for d in (edited, approved, rejected, redrafted)),
            what="the cards",
        )

        await mini_app(service, edited, action="edit", text="A better reply 🚀")
        await mini_app(service, approved, action="approve", text="Approved as written here")
        await mini_app(service, rejected, action="reject", reason="Not a fit")
        await mini_app(service, redrafted, action="redraft", instruction="Shorter")

        card = await fake_telegram.wait_for(
            lambda: "A better reply 🚀" in service.card(edited)["text"] and service.card(edited),
            what="the edited card",
        )
        assert {b.get("callback_data") for b in buttons(card)} >= {f"approve:{edited}"}
        assert [b for b in buttons(card) if "web_app" in b]

        card = await fake_telegram.wait_for(
            lambda: "Approved" in service.card(approved)["text"] and service.card(approved),
            what="the approved card",
        )
        assert "Approved as written here" in card["text"]
        # What sends the reply, and nothing that decides again (CONTRACT §5 "After Approve").
        assert [b.get("callback_data") for b in buttons(card) if "callback_data" in b] == [
            f"sent:{approved}"
        ]

        card = await fake_telegram.wait_for(
            lambda: "Rejected" in service.card(rejected)["text"] and service.card(rejected),
            what="the rejected card",
        )
        assert buttons(card) == []
        card = await fake_telegram.wait_for(
            lambda: not buttons(service.card(redrafted)) and service.card(redrafted),
            what="the redrafted card without buttons",
        )
        assert (await service.draft(redrafted)).status == "superseded"


async def test_drafts_listing_cards_open_the_editor_too(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    settings = telegram_settings(port=free_port(), public_url=PUBLIC)
    async with running_service(settings, fake_telegram) as service:
        draft_id = (await service.post_draft())["draft_id"]
        service.say("/drafts")

        def listed() -> dict[str, Any] | None:
            cards = [m for m in fake_telegram.delivered() if "Pending draft" in m["text"]]
            return cards[-1] if cards else None

        card = await fake_telegram.wait_for(listed, what="the /drafts card")
        urls = [b["web_app"]["url"] for b in buttons(card) if "web_app" in b]
        assert urls == [f"{PUBLIC}/app?draft={draft_id}"]


async def test_a_chat_that_refuses_the_menu_button_does_not_stop_the_bot(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    # A user of TELEGRAM_ALLOWED_USER_IDS who never opened the bot: "chat not found".
    fake_telegram.fail_next("setChatMenuButton", 400, description="Bad Request: chat not found")
    settings = telegram_settings(
        port=free_port(), public_url=PUBLIC, telegram_allowed_user_ids=str(ALLOWED_ID)
    )
    async with running_service(settings, fake_telegram) as service:
        assert (await service.health())["telegram"] == "ok"
        assert list(fake_telegram.menu_buttons) == [ALLOWED_ID]
