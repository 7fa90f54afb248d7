"""Every notification reaches Telegram exactly once: through outages, 5xx, 429, slow answers,
restarts, and two processes sending from one database; a message Telegram will never take is
dead-lettered so its chat goes on; sends are paced to Telegram's flood limits."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
from collections import Counter
from collections.abc import Callable

from bot.settings import Settings
from bot.telegram.sender import MAX_RUN_PER_CHAT, run_per_chat
from bot.telegram.tuning import TelegramTuning
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
        # More failed attempts than a dead letter takes: an outage gives nothing up.
        await fake_telegram.wait_for(
            lambda: _head_attempts(service, FAST.max_attempts + 1), what="attempts during it"
        )

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


async def _head_attempts(service: Service, at_least: int) -> bool:
    return any(row.attempts >= at_least for row in await service.outbox())


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
        fake_telegram.slow(0)
        # A later message of the chat goes out only once the card is no longer pending: had
        # the slow send been given up, the card would be sent again before it.
        async with service.db() as session, session.begin():
            await outbox.enqueue(session=session, chat_id=OPERATOR_ID, text="after the card")
        await fake_telegram.wait_for(lambda: _all_sent(service), what="both messages sent")
        assert [m["text"] for m in fake_telegram.sent_messages()][-1] == "after the card"
        assert cards_per_draft(fake_telegram) == {created["draft_id"]: 1}
        assert len(fake_telegram.calls_to("sendMessage", ok=None)) == 2
        card, _after = await service.outbox()
        assert card.attempts == 1


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
        await fake_telegram.wait_for(lambda: _head_attempts(one, 1), what="a failed attempt")
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


async def test_a_message_telegram_refuses_for_good_is_dead_lettered_and_the_chat_goes_on(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    async with running_service(telegram_settings(port=free_port()), fake_telegram) as service:
        fake_telegram.fail_next(
            "sendMessage", status=403, description="Forbidden: bot was blocked by the user"
        )
        await _queue(service, ["refused", "after it"])
        await fake_telegram.wait_for(lambda: _none_pending(service), what="the queue to move")
        health = await service.health()
    refused, after = await service.outbox()
    assert (refused.status, refused.attempts) == ("failed", 1)
    assert "blocked" in (refused.last_error or "")
    assert after.status == "sent"
    assert [m["text"] for m in fake_telegram.sent_messages()] == ["after it"]
    assert (health["telegram"], health["telegram_dead_letters"]) == ("degraded", 1)


async def test_a_message_failing_while_telegram_answers_is_dead_lettered_after_max_attempts(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    async with running_service(telegram_settings(port=free_port()), fake_telegram) as service:
        assert (await service.health())["telegram_dead_letters"] == 0
        fake_telegram.fail_next("sendMessage", status=500, times=1000, matching="doomed")
        await _queue(service, ["doomed", "after it"])
        await fake_telegram.wait_for(
            lambda: _none_pending(service), timeout=30, what="the queue to move"
        )
        health = await service.health()
    doomed, after = await service.outbox()
    assert (doomed.status, doomed.attempts) == ("failed", FAST.max_attempts)
    assert after.status == "sent"
    assert len(fake_telegram.calls_to("sendMessage", ok=False)) == FAST.max_attempts
    assert (health["telegram"], health["telegram_dead_letters"]) == ("degraded", 1)


async def test_an_outage_answered_with_502s_gives_nothing_up(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    """Telegram's gateway answering 502 to every method (getMe too) is an outage, not a
    message Telegram will not take: error answers past the limit dead-letter nothing."""
    async with running_service(telegram_settings(port=free_port()), fake_telegram) as service:
        fake_telegram.fail_next("*", status=502, times=10_000)
        await _queue(service, ["during the outage"])
        await fake_telegram.wait_for(
            lambda: _head_attempts(service, FAST.max_attempts + 2), what="error answers"
        )
        assert fake_telegram.calls_to("getMe", ok=False)  # it asked whether Telegram works
        fake_telegram.clear_failures()
        await fake_telegram.wait_for(lambda: _all_sent(service), what="the message sent")
    assert [m["text"] for m in fake_telegram.sent_messages()] == ["during the outage"]


async def test_sends_are_paced_per_chat_per_group_and_overall(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    tuning = dataclasses.replace(
        FAST, chat_interval_s=0.3, group_interval_s=0.6, global_interval_s=0.1
    )
    group = -100_444
    async with running_service(
        telegram_settings(port=free_port()), fake_telegram, tuning=tuning
    ) as service:
        async with service.db() as session, session.begin():
            for n in range(3):
                await outbox.enqueue(session=session, chat_id=OPERATOR_ID, text=f"private {n}")
                await outbox.enqueue(session=session, chat_id=group, text=f"group {n}")
        await fake_telegram.wait_for(lambda: _all_sent(service), what="every message sent")
    calls = fake_telegram.calls_to("sendMessage")
    every = [c.at for c in calls]
    private = [c.at for c in calls if c.params["chat_id"] == OPERATOR_ID]
    in_group = [c.at for c in calls if c.params["chat_id"] == group]
    margin = 0.02  # the fake stamps a call when it reads it, a little after it was sent
    assert all(b - a >= 0.3 - margin for a, b in itertools.pairwise(private))
    assert all(b - a >= 0.6 - margin for a, b in itertools.pairwise(in_group))
    assert all(b - a >= 0.1 - margin for a, b in itertools.pairwise(every))


def test_telegram_pacing_false_turns_pacing_off(
    telegram_settings: Callable[..., Settings],
) -> None:
    from bot.telegram.component import TelegramComponent
    from storage.engine import create_engine

    paced = TelegramTuning()
    assert (paced.chat_interval_s, paced.group_interval_s) == (1.0, 3.0)
    assert paced.global_interval_s == 1 / 30
    settings = telegram_settings(telegram_pacing=False)
    component = TelegramComponent(settings, create_engine(settings.database_url), paced)
    tuning = component.tuning
    assert (tuning.chat_interval_s, tuning.group_interval_s, tuning.global_interval_s) == (0, 0, 0)


async def _queue(service: Service, texts: list[str]) -> None:
    async with service.db() as session, session.begin():
        for text in texts:
            await outbox.enqueue(session=session, chat_id=OPERATOR_ID, text=text)


async def _none_pending(service: Service) -> bool:
    return all(row.status != "pending" for row in await service.outbox())


async def test_a_paced_chat_has_claimed_only_what_may_go_out_within_the_claim_window(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    tuning = dataclasses.replace(
        FAST, chat_interval_s=0.2, group_interval_s=0.2, global_interval_s=0.0, claim_window_s=0.5
    )
    assert run_per_chat(tuning) == 3
    assert run_per_chat(tuning.unpaced()) == MAX_RUN_PER_CHAT
    texts = [f"paced {n}" for n in range(8)]
    most_claimed = 0
    async with running_service(
        telegram_settings(port=free_port()), fake_telegram, tuning=tuning
    ) as service:
        await _queue(service, texts)
        while not await _all_sent(service):
            rows = await service.outbox()
            held = [r for r in rows if r.status == "pending" and r.claimed_by is not None]
            most_claimed = max(most_claimed, len(held))
            await asyncio.sleep(0.02)
    assert 1 <= most_claimed <= 3
    assert [c.params["text"] for c in fake_telegram.calls_to("sendMessage")] == texts
