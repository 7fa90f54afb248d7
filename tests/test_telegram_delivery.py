"""Every notification reaches Telegram exactly once: through outages, 5xx, 429, slow answers,
restarts, and two processes sending from one database."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
from collections import Counter
from collections.abc import Callable

from bot.settings import Settings
from storage.repo import outbox
from tests.fake_telegram import FakeTelegram
from tests.reliability.telegram_faults import cards_in_order
from tests.telegram_support import FAST, Service, free_port, running_service
from tests.telegram_updates import OPERATOR_ID


def cards_per_draft(fake: FakeTelegram) -> dict[str, int]:
    """How many cards Telegram accepted for each draft id."""
    return dict(Counter(cards_in_order(fake)))


async def all_recorded(service: Service, draft_ids: list[str]) -> bool:
    """Every draft has its card's message id, and no outbox row is left pending."""
    drafts = [await service.draft(draft_id) for draft_id in draft_ids]
    rows = await service.outbox()
    return all(d.telegram_message_id for d in drafts) and all(r.status == "sent" for r in rows)


async def test_telegram_down_for_a_while_then_back_delivers_every_card_once(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    async with running_service(telegram_settings(port=free_port()), fake_telegram) as service:
        await fake_telegram.refuse_connections()
        created = [await service.post_draft(client=f"Client {n}") for n in range(3)]
        assert [c["telegram_sent"] for c in created] == [False] * 3
        assert (await service.health())["telegram"] == "degraded"
        await asyncio.sleep(FAST.retry_max_s * 2)  # a few failed retries while it is down

        await fake_telegram.accept_connections()
        ids = [c["draft_id"] for c in created]
        await fake_telegram.wait_for(lambda: all_recorded(service, ids), timeout=10)
        await fake_telegram.wait_for(
            lambda: _health_ok(service), timeout=10, what="telegram: ok again"
        )
        assert cards_per_draft(fake_telegram) == dict.fromkeys(ids, 1)
        for draft_id in ids:
            draft = await service.draft(draft_id)
            card = fake_telegram.message(OPERATOR_ID, draft.telegram_message_id or 0)
            assert draft_id in card["text"]


async def _health_ok(service: Service) -> bool:
    return (await service.health())["telegram"] == "ok"


async def test_5xx_answers_are_retried_with_backoff_until_delivered(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    async with running_service(telegram_settings(port=free_port()), fake_telegram) as service:
        fake_telegram.fail_next("sendMessage", status=500, times=2)
        fake_telegram.fail_next("sendMessage", status=502)
        created = await service.post_draft()
        assert created["telegram_sent"] is False
        await fake_telegram.wait_for(lambda: all_recorded(service, [created["draft_id"]]))

        statuses = [c.status for c in fake_telegram.calls_to("sendMessage", ok=None)]
        assert statuses == [500, 500, 502, 200]
        # Each retry waited out its backoff: 0.1 s, 0.2 s, 0.4 s with these settings.
        expected = [FAST.backoff_s(attempt) for attempt in (1, 2, 3)]
        assert expected == [0.1, 0.2, 0.4]
        for gap, backoff in zip(_gaps(fake_telegram), expected, strict=True):
            assert gap >= backoff - 0.02
        [row] = await service.outbox()
        assert (row.attempts, row.last_error) == (4, None)


async def test_429_is_honoured_for_every_message(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    async with running_service(telegram_settings(port=free_port()), fake_telegram) as service:
        fake_telegram.fail_next("sendMessage", status=429, retry_after=1)
        first = await service.post_draft(client="First")
        second = await service.post_draft(client="Second")  # queued during the pause
        assert (first["telegram_sent"], second["telegram_sent"]) == (False, False)
        ids = [first["draft_id"], second["draft_id"]]
        await fake_telegram.wait_for(lambda: all_recorded(service, ids), timeout=10)

    calls = fake_telegram.calls_to("sendMessage", ok=None)
    assert [c.status for c in calls] == [429, 200, 200]
    assert calls[1].at - calls[0].at >= 1.0
    assert cards_per_draft(fake_telegram) == dict.fromkeys(ids, 1)


async def test_an_answer_slower_than_the_request_is_recorded_and_not_sent_twice(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    assert FAST.deliver_wait_s < 2.0 < FAST.read_timeout_s
    async with running_service(telegram_settings(port=free_port()), fake_telegram) as service:
        fake_telegram.slow(2.0, method="sendMessage")
        created = await service.post_draft()
        assert created["telegram_sent"] is False  # the API did not wait for the slow answer
        await fake_telegram.wait_for(lambda: all_recorded(service, [created["draft_id"]]))
        fake_telegram.slow(0)
        await asyncio.sleep(FAST.retry_max_s * 2)  # time enough for a (wrong) retry
        assert len(fake_telegram.calls_to("sendMessage", ok=None)) == 1
        [row] = await service.outbox()
        assert row.attempts == 1


async def test_what_is_pending_at_a_restart_is_sent_after_it(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    settings = telegram_settings(port=free_port())
    await fake_telegram.refuse_connections()
    async with running_service(settings, fake_telegram, wait_ready=False) as service:
        # Telegram unreachable from the start: the API works, the bot keeps trying.
        created = await service.post_draft()
        assert created["telegram_sent"] is False
        assert (await service.health())["telegram"] == "degraded"

    await fake_telegram.accept_connections()
    assert fake_telegram.sent_messages() == []
    async with running_service(settings, fake_telegram) as service:
        await fake_telegram.wait_for(lambda: all_recorded(service, [created["draft_id"]]))
    assert cards_per_draft(fake_telegram) == {created["draft_id"]: 1}


async def test_two_processes_on_one_database_send_each_card_once(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    first = telegram_settings(port=free_port())
    second = telegram_settings(port=free_port())
    async with contextlib.AsyncExitStack() as stack:
        one = await stack.enter_async_context(running_service(first, fake_telegram))
        two = await stack.enter_async_context(running_service(second, fake_telegram))
        await fake_telegram.refuse_connections()
        created = await asyncio.gather(
            *(
                service.post_draft(client=f"Client {n}")
                for n in range(12)
                for service in ([one, two][n % 2],)
            )
        )
        await asyncio.sleep(0.3)
        await fake_telegram.accept_connections()
        ids = [c["draft_id"] for c in created]
        await fake_telegram.wait_for(lambda: all_recorded(one, ids), timeout=15)
    assert cards_per_draft(fake_telegram) == dict.fromkeys(ids, 1)


def _gaps(fake: FakeTelegram) -> list[float]:
    times = [c.at for c in fake.calls_to("sendMessage", ok=None)]
    return [later - earlier for earlier, later in itertools.pairwise(times)]


async def test_a_burst_longer_than_a_claim_goes_out_complete_once_and_in_order(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    # Each send takes 0.1 s and a claim's rows may be sent for 0.25 s: a run of queued
    # messages is handed back part-way and claimed again, more than once. The leases are long
    # (a 60 s read timeout), so a row not handed back would hold up the burst past the wait.
    tuning = dataclasses.replace(FAST, claim_window_s=0.25, read_timeout_s=60.0)
    settings = telegram_settings(port=free_port())
    texts = [f"message {n}" for n in range(8)]
    async with running_service(settings, fake_telegram, tuning=tuning) as service:
        fake_telegram.slow(0.1, method="sendMessage")
        async with service.db() as session, session.begin():  # queued at once, in this order
            for text in texts:
                await outbox.enqueue(session=session, chat_id=OPERATOR_ID, text=text)
        await fake_telegram.wait_for(
            lambda: _all_sent(service), timeout=20, what="every message sent"
        )

    assert [m["text"] for m in fake_telegram.sent_messages()] == texts  # once each, in order
    assert len(fake_telegram.calls_to("sendMessage", ok=None)) == 8  # no attempt failed


async def _all_sent(service: Service) -> bool:
    return all(row.status == "sent" for row in await service.outbox())
