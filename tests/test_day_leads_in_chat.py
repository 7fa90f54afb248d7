"""Leads in chat (CONTRACT §10): a GO lead's card and its Propose / Sent / Skip buttons."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from bot.settings import Settings
from storage.models import CitizenSession, Lead
from tests.factories import lead_body
from tests.fake_telegram import FakeTelegram
from tests.telegram_support import Service, free_port, running_service
from tests.telegram_updates import OPERATOR_ID, callback_query_update


async def post_lead(service: Service, **fields: Any) -> int:
    async with service.http.post(f"{service.url}/api/leads", json=lead_body(**fields)) as r:
        assert r.status == 201, await r.text()
        return int((await r.json())["lead_id"])


def lead_cards(fake: FakeTelegram) -> list[dict[str, Any]]:
    return [m for m in fake.messages.values() if "GO lead" in m["text"]]


async def tap(service: Service, data: str, message_id: int) -> None:
    update = callback_query_update(data, message_id=message_id)
    service.fake.inject_update(update)
    await service.answered(str(update["callback_query"]["id"]))


async def test_go_leads_get_a_card_no_go_leads_do_not(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    async with running_service(telegram_settings(port=free_port()), fake_telegram) as service:
        await post_lead(service, decision="NO-GO", title="Scraper for <b>cheap</b>")
        go = await post_lead(
            service,
            title="FastAPI <backend>",
            budget="$2,000",
            urgency=8,
            pain=7,
            reason="Clear scope & verified payment",
            link="https://www.upwork.com/jobs/~01",
        )

        [card] = await fake_telegram.wait_for(lambda: lead_cards(fake_telegram), what="a card")
        assert "FastAPI <backend>" in card["text"] and "cheap" not in card["text"]
        for shown in ("$2,000", "urgency 8/10", "pain 7/10", "Clear scope & verified payment"):
            assert shown in card["text"]
        assert "https://www.upwork.com/jobs/~01" in card["text"]
        buttons = [b["callback_data"] for b in card["reply_markup"]["inline_keyboard"][0]]
        assert buttons == [f"propose:{go}", f"lead_sent:{go}", f"lead_skip:{go}"]


async def test_sent_propose_and_skip_do_what_they_say(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    async with running_service(telegram_settings(port=free_port()), fake_telegram) as service:
        ids = [await post_lead(service, title=f"Job {n}") for n in range(3)]
        await fake_telegram.wait_for(lambda: len(lead_cards(fake_telegram)) == 3)
        card_of = {
            int(m["text"].rsplit("lead ", 1)[1]): chat_and_id[1]
            for chat_and_id, m in fake_telegram.messages.items()
            if "GO lead" in m["text"]
        }
        sent, proposed, skipped = ids

        await tap(service, f"lead_sent:{sent}", card_of[sent])
        await tap(service, f"propose:{proposed}", card_of[proposed])
        await tap(service, f"lead_skip:{skipped}", card_of[skipped])

        def settled() -> bool:
            shown = [fake_telegram.message(OPERATOR_ID, card_of[i]) for i in ids]
            return all("reply_markup" not in m for m in shown)

        await fake_telegram.wait_for(settled, what="every card without buttons")
        texts = {i: fake_telegram.message(OPERATOR_ID, card_of[i])["text"] for i in ids}
        assert "Proposal sent" in texts[sent]
        assert "Proposal asked of Emma" in texts[proposed]
        assert "Skipped" in texts[skipped]
        async with service.db() as session:
            leads = {lead.id: lead for lead in (await session.scalars(select(Lead))).all()}
            [emma] = (await session.scalars(select(CitizenSession))).all()
        assert [leads[i].sent for i in ids] == [True, False, False]
        assert (emma.citizen, emma.lead_id) == ("emma", proposed)
        assert f"lead_id {proposed}" in emma.prompt
        assert [e.payload["lead_id"] for e in await service.events("lead.sent")] == [sent]
