"""Leads in chat (CONTRACT §10): a GO lead's card and its Propose / Sent / Skip buttons."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy import select

from bot.settings import Settings
from bot.telegram import lead_cards as lead_cards_module
from bot.worker import work
from storage.models import CitizenSession, Lead
from tests.citizens_support import FakeClaude
from tests.factories import lead_body
from tests.fake_telegram import FakeTelegram
from tests.telegram_support import Service, buttons, free_port, running_service
from tests.telegram_updates import OPERATOR_ID


async def post_lead(service: Service, **fields: Any) -> int:
    async with service.http.post(f"{service.url}/api/leads", json=lead_body(**fields)) as r:
        assert r.status == 201, await r.text()
        return int((await r.json())["lead_id"])


def lead_cards(fake: FakeTelegram) -> list[dict[str, Any]]:
    return [m for m in fake.messages.values() if "GO lead" in m["text"]]


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

        await service.answered(service.tap_message(f"lead_sent:{sent}", card_of[sent]))
        await service.answered(service.tap_message(f"propose:{proposed}", card_of[proposed]))
        await service.answered(service.tap_message(f"lead_skip:{skipped}", card_of[skipped]))

        def settled() -> bool:
            shown = [fake_telegram.message(OPERATOR_ID, card_of[i]) for i in ids]
            return all(
                "GO lead" in m["text"] and "\n\n" in m["text"].split("lead ")[-1] for m in shown
            )

        await fake_telegram.wait_for(settled, what="every card saying what was done")
        shown = {i: fake_telegram.message(OPERATOR_ID, card_of[i]) for i in ids}
        assert "Proposal sent" in shown[sent]["text"] and "reply_markup" not in shown[sent]
        assert "Skipped" in shown[skipped]["text"] and "reply_markup" not in shown[skipped]
        # Asked for a proposal: Sent and Skip stay, Propose waits for the outcome (here a
        # failure: this service has no citizens folder; the card then says so).
        first_edit = next(
            c.params
            for c in fake_telegram.calls_to("editMessageText")
            if c.params["message_id"] == card_of[proposed]
        )
        assert "Emma is writing a proposal" in first_edit["text"]
        assert buttons(first_edit) == [f"lead_sent:{proposed}", f"lead_skip:{proposed}"]
        failed = await fake_telegram.wait_for(
            lambda: (
                "failed" in (m := fake_telegram.message(OPERATOR_ID, card_of[proposed]))["text"]
                and m
            )
        )
        assert "no citizen 'emma'" in failed["text"] and "writing" not in failed["text"]
        assert buttons(failed) == [
            f"propose:{proposed}",
            f"lead_sent:{proposed}",
            f"lead_skip:{proposed}",
        ]
        async with service.db() as session:
            leads = {lead.id: lead for lead in (await session.scalars(select(Lead))).all()}
            [emma] = (await session.scalars(select(CitizenSession))).all()
        assert [leads[i].sent for i in ids] == [True, False, False]
        assert (emma.citizen, emma.lead_id) == ("emma", proposed)
        assert f"lead_id {proposed}" in emma.prompt
        assert [e.payload["lead_id"] for e in await service.events("lead.sent")] == [sent]


@pytest.mark.usefixtures("citizens_home")
@contextlib.asynccontextmanager
async def sessions_run_by(runs_sessions: str, settings: Settings) -> AsyncIterator[None]:
    """Nothing more for the service; for "worker", a `scopelock worker` beside it."""
    if runs_sessions == "service":
        yield
        return
    stop = asyncio.Event()
    working = asyncio.create_task(work(settings, stop, poll_interval_s=0.1))
    try:
        yield
    finally:
        stop.set()
        await working


@pytest.mark.parametrize("runs_sessions", ["service", "worker"])
async def test_the_card_follows_the_proposal_through_failure_and_sending(
    telegram_settings: Callable[..., Settings],
    fake_telegram: FakeTelegram,
    fake_claude: FakeClaude,
    runs_sessions: str,
) -> None:
    """After ✍️ Propose the card says Emma is writing; when her session fails it says why and
    offers Propose again; once her proposal is marked sent on its own card, it says sent.
    The same when `scopelock worker` runs the session (SESSIONS_IN_PROCESS=false)."""
    settings = telegram_settings(
        port=free_port(),
        claude_bin=str(fake_claude.bin),
        sessions_in_process=runs_sessions == "service",
    )
    async with (
        running_service(settings, fake_telegram) as service,
        sessions_run_by(runs_sessions, settings),
    ):
        # The fake CLI follows FAKE: lines of its prompt; the lead's reason is in Emma's.
        lead = await post_lead(service, reason="Good fit.\nFAKE:stderr=Not logged in\nFAKE:exit=1")
        [card] = await fake_telegram.wait_for(lambda: lead_cards(fake_telegram), what="a card")
        card_id = next(k[1] for k, m in fake_telegram.messages.items() if m is card)

        def card_now() -> dict[str, Any]:
            return fake_telegram.message(OPERATOR_ID, card_id)

        await service.answered(service.tap_message(f"propose:{lead}", card_id))
        failed = await fake_telegram.wait_for(
            lambda: "proposal failed" in card_now()["text"] and card_now(), timeout=30
        )
        assert "Not logged in" in failed["text"] and "writing" not in failed["text"]
        assert buttons(failed) == [f"propose:{lead}", f"lead_sent:{lead}", f"lead_skip:{lead}"]

        # Emma's proposal (as she posts it, with the lead's id), approved and sent on its card.
        draft_id = (await service.post_draft(citizen="emma", lead_id=lead))["draft_id"]
        await fake_telegram.wait_for(lambda: service.card(draft_id), what="the proposal's card")
        await service.answered(await service.tap("approve", draft_id))
        await fake_telegram.wait_for(lambda: "Approved" in service.card(draft_id)["text"])
        await service.answered(await service.tap("sent", draft_id))
        sent = await fake_telegram.wait_for(
            lambda: "Proposal sent" in card_now()["text"] and card_now(), what="the lead sent"
        )
        assert "reply_markup" not in sent and "failed" not in sent["text"]
        async with service.db() as session:
            stored = await session.get(Lead, lead)
            assert stored is not None and stored.sent


async def test_the_state_of_a_lead_is_read_from_its_rows(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    """New, proposing, drafted, ended without a proposal, sent: what the card will say."""
    async with running_service(telegram_settings(port=free_port()), fake_telegram) as service:
        lead_id = await post_lead(service)

        async def state() -> lead_cards_module.LeadState:
            async with service.db() as session:
                lead = await session.get(Lead, lead_id)
                assert lead is not None
                return await lead_cards_module.state_of(session=session, lead=lead)

        async def session_of_emma(status: str) -> None:
            async with service.db() as session, session.begin():
                session.add(
                    CitizenSession(
                        id=str(uuid.uuid4()),
                        citizen="emma",
                        trigger="telegram",
                        prompt="p",
                        status=status,
                        lead_id=lead_id,
                    )
                )

        assert (await state()).kind == "new"
        await session_of_emma("running")
        assert (await state()).kind == "proposing"
        await session_of_emma("completed")
        ended = await state()
        assert (ended.kind, ended.detail) == ("failed", "Emma ended without a proposal")
        await service.post_draft(citizen="emma", lead_id=lead_id)
        assert (await state()).kind == "drafted"
        async with service.db() as session, session.begin():
            lead = await session.get(Lead, lead_id)
            assert lead is not None
            lead.sent = True
        assert (await state()).kind == "sent"
