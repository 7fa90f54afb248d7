"""The chat commands: /start, /help, /drafts (paged, with buttons), /leads, /events."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bot.settings import Settings
from tests.fake_telegram import FakeTelegram
from tests.telegram_support import Service, free_port, running_service


async def reply_to(service: Service, text: str, *, count: int = 1) -> list[dict[str, Any]]:
    """Send `text` as the operator; return the next `count` messages the bot sends."""
    before = len(service.fake.delivered())
    service.say(text)
    replies = await service.fake.wait_for(
        lambda: len(service.fake.delivered()) >= before + count and service.fake.delivered(),
        what=f"{count} replies to {text}",
    )
    return replies[before:]


async def post_lead(service: Service, **fields: Any) -> None:
    lead = {
        "platform": "Upwork",
        "title": "Bot <for> a bakery",
        "budget": "$500",
        "decision": "GO",
        "reason": "Clear scope & a real budget",
        "link": "https://upwork.example/j/2",
    } | fields
    async with service.http.post(f"{service.url}/api/leads", json=lead) as response:
        assert response.status == 201, await response.text()
    if lead["decision"] == "GO":  # its card arrives before anything else is asked
        await service.fake.wait_for(
            lambda: any("GO lead" in m["text"] for m in service.fake.delivered()),
            what="the GO lead's card",
        )


async def test_start_and_help_list_the_commands_registered_with_set_my_commands(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    async with running_service(telegram_settings(port=free_port()), fake_telegram) as service:
        [start] = await reply_to(service, "/start")
        [help_] = await reply_to(service, "/help")
    registered = fake_telegram.calls_to("setMyCommands")[0].params["commands"]
    assert start["text"] == help_["text"]
    for command in registered:
        assert f"/{command['command']} — {command['description']}" in help_["text"]
    assert {"drafts", "leads", "events", "draft", "cancel", "help"} <= {
        c["command"] for c in registered
    }


async def test_drafts_lists_pending_drafts_with_their_buttons_a_page_at_a_time(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    async with running_service(telegram_settings(port=free_port()), fake_telegram) as service:
        [empty] = await reply_to(service, "/drafts")
        assert empty["text"] == "No pending drafts, and no client waits. 🎉"

        ids = [(await service.post_draft(client=f"Client {n}"))["draft_id"] for n in range(7)]
        await service.answered(await service.tap("approve", ids[0]))
        pending = list(reversed(ids[1:]))  # newest first

        page = await reply_to(service, "/drafts", count=6)
        assert [_draft_of(m) for m in page[:5]] == pending[:5]
        assert page[5]["text"] == "1 more pending draft."
        [[more]] = page[5]["reply_markup"]["inline_keyboard"]

        # A listed card's buttons decide like the original card's; and deciding a draft of
        # the first page before asking for the next skips nothing (pages are keyset pages).
        listed = page[0]
        tap = service.tap_message(f"reject:{pending[0]}", listed["message_id"])
        assert (await service.answered(tap))["text"] == "❌ Rejected"
        assert (await service.draft(pending[0])).status == "rejected"

        before = len(fake_telegram.delivered())
        await service.answered(service.tap_message(more["callback_data"], page[5]["message_id"]))
        rest = await fake_telegram.wait_for(
            lambda: [m for m in fake_telegram.delivered()[before:] if _is_card(m)]
        )
        assert [_draft_of(m) for m in rest] == pending[5:]


def _is_card(message: dict[str, Any]) -> bool:
    rows = message.get("reply_markup", {}).get("inline_keyboard", [[{}]])
    return str(rows[0][0].get("callback_data")).startswith("approve:")


def _draft_of(message: dict[str, Any]) -> str:
    [[approve, _edit], [_redraft, _reject]] = message["reply_markup"]["inline_keyboard"]
    return str(approve["callback_data"]).removeprefix("approve:")


async def test_leads_lists_recent_leads_optionally_by_decision(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    async with running_service(telegram_settings(port=free_port()), fake_telegram) as service:
        [none] = await reply_to(service, "/leads")
        assert none["text"] == "No leads yet."
        await post_lead(service)
        await post_lead(
            service,
            title="Scraper & crawler",
            decision="NO-GO",
            reason="Too vague",
            link="https://upwork.example/j/3",
        )

        [all_leads] = await reply_to(service, "/leads")
        [go] = await reply_to(service, "/leads go")
        [no_go] = await reply_to(service, "/leads NO-GO")
        [usage] = await reply_to(service, "/leads maybe")

    assert all_leads["text"].index("Scraper & crawler") < all_leads["text"].index("Bot <for>")
    assert "Bot <for> a bakery" in go["text"] and "Scraper" not in go["text"]
    assert "Scraper & crawler" in no_go["text"] and "bakery" not in no_go["text"]
    assert "https://upwork.example/j/2" in go["text"]
    assert usage["text"] == "Usage: /leads [GO|NO-GO]"


async def test_events_lists_recent_events_optionally_by_name_prefix(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    async with running_service(telegram_settings(port=free_port()), fake_telegram) as service:
        [none] = await reply_to(service, "/events")
        assert none["text"] == "No events yet."
        draft_id = (await service.post_draft())["draft_id"]
        await post_lead(service)

        [recent] = await reply_to(service, "/events")
        [drafts] = await reply_to(service, "/events draft.")
        [exact] = await reply_to(service, "/events lead.tracked@1.0")
        [usage] = await reply_to(service, "/events <b>")

    assert recent["text"].index("lead.tracked@1.0") < recent["text"].index("draft.created@1.0")
    assert "draft.created@1.0" in drafts["text"] and "lead.tracked" not in drafts["text"]
    assert draft_id in drafts["text"]
    assert "lead.tracked@1.0" in exact["text"] and "draft.created" not in exact["text"]
    assert usage["text"].startswith("Usage: /events [prefix]")


@pytest.mark.parametrize(
    ("command", "usage"),
    [
        ("/draft", "Usage: /draft <id>"),
        ("/draft not-an-id", "Usage: /draft <id>"),
        ("/draft 8a4c2b1e-3f5d-4e6a-9b7c-0d1e2f3a4b5c", "There is no draft"),
        ("/draft 8a4c2b1e-3f5d-4e6a-9b7c-0d1e2f3a4b5c extra", "Usage: /draft <id>"),
        ("/draft 8a4c2b1", "Usage: /draft <id>"),
        ("/leads maybe", "Usage: /leads [GO|NO-GO]"),
        ("/events <b>", "Usage: /events [prefix]"),
        ("/trigger", "Usage: /trigger <citizen> <message>"),
        ("/trigger emma", "Usage: /trigger <citizen> <message>"),
    ],
)
async def test_a_command_used_wrongly_answers_with_its_usage(
    telegram_settings: Callable[..., Settings],
    fake_telegram: FakeTelegram,
    command: str,
    usage: str,
) -> None:
    async with running_service(telegram_settings(port=free_port()), fake_telegram) as service:
        [reply] = await reply_to(service, command)
    # Telegram took it under parse mode HTML: the fake refuses a stray `<id>` as Telegram does.
    assert usage in reply["text"]
    assert "did not work" not in reply["text"]


async def test_a_failed_command_names_its_cause(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    async with running_service(telegram_settings(port=free_port()), fake_telegram) as service:
        fake_telegram.fail_next(
            "sendMessage", status=400, description="Bad Request: can't parse entities: here"
        )
        [reply] = await reply_to(service, "/leads")
    assert reply["text"] == (
        "⚠️ That did not work: Telegram refused the answer (Can't parse entities: here)."
    )
