"""Delivering approved replies (CONTRACT §11), end to end: a tap on Approve in the fake
Telegram, the real service, and a receiver on loopback that fails on demand."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from urllib.parse import urlsplit

import pytest

from bot.settings import Settings
from tests.delivery_receiver import Receiver
from tests.delivery_support import FAST_DELIVERY, deliveries_of, delivery_settings, new_thread
from tests.fake_telegram import FakeTelegram
from tests.miniapp_support import headers as miniapp_headers
from tests.telegram_support import Service, running_service
from tests.telegram_updates import STRANGER_ID


async def approve(service: Service, **fields: object) -> str:
    draft_id = str((await service.post_draft(**fields))["draft_id"])
    answer = await service.answered(await service.tap("approve", draft_id))
    assert answer["text"] == "✅ Approved"
    return draft_id


async def card_says(service: Service, draft_id: str, text: str) -> dict[str, object]:
    return await service.fake.wait_for(  # type: ignore[no-any-return]
        lambda: text in service.card(draft_id)["text"] and service.card(draft_id),
        what=f"the card to say {text!r}",
    )


async def test_approving_delivers_the_signed_reply_and_marks_the_draft_sent(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram, receiver: Receiver
) -> None:
    settings = delivery_settings(telegram_settings, receiver)
    async with running_service(settings, fake_telegram, delivery_tuning=FAST_DELIVERY) as service:
        thread_id = await new_thread(service.db)
        draft_id = await approve(service, thread_id=thread_id)
        card = await card_says(service, draft_id, "✅ Delivered")
        [request] = receiver.received
        async with service.http.get(f"{service.url}/api/draft/{draft_id}") as response:
            shown = await response.json()
        async with service.http.get(f"{service.url}/api/thread/{thread_id}") as response:
            thread = await response.json()

    assert request.verified  # the receiver's own check, with the shared secret
    assert request.webhook_id.startswith("msg_")
    document = request.document()
    assert document["type"] == "draft.approved"
    # The draft as GET /api/draft/{id} showed it when it was delivered (then: approved).
    assert document["draft"] == shown | {
        "status": "approved",
        "sent_at": None,
        "updated_at": document["draft"]["updated_at"],
    }
    assert document["thread"]["id"] == thread_id
    assert document["thread"]["client"] == "Acme"
    assert "messages" not in document["thread"]  # the summary, not the whole history

    draft = await service.draft(draft_id)
    assert draft.status == "sent" and draft.sent_at is not None
    assert shown["status"] == "sent"
    names = [event.event for event in await service.events("")]
    assert names[-2:] == ["delivery.succeeded@1.0", "draft.sent@1.0"]
    [succeeded] = await service.events("delivery.")
    assert succeeded.payload["webhook_id"] == request.webhook_id
    assert [(m["direction"], m["text"]) for m in thread["messages"]] == [
        ("in", "Can you start?"),
        ("out", draft.draft_text),
    ]
    assert thread["waiting_since"] is None
    assert "✅ Approved by Nicolas" in str(card["text"])
    edits = [c.params["text"] for c in fake_telegram.calls_to("editMessageText")]
    assert "📤 <b>Delivering…</b>" in edits[0]  # shown at the approval, before any attempt
    assert "reply_markup" not in card


async def test_failures_are_retried_with_one_webhook_id_until_the_reply_arrives_once(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram, receiver: Receiver
) -> None:
    settings = delivery_settings(telegram_settings, receiver)
    receiver.answer_next(500, times=2)
    receiver.answer_next(503, delay_s=2.5)  # slower than the request timeout: no answer
    async with running_service(settings, fake_telegram, delivery_tuning=FAST_DELIVERY) as service:
        draft_id = await approve(service)
        await fake_telegram.wait_for(lambda: len(receiver.received) == 3, what="three attempts")
        await receiver.refuse_connections()
        await fake_telegram.wait_for(
            lambda: _attempts(service, draft_id, 5), what="attempts while the receiver is down"
        )
        await card_says(service, draft_id, "retrying at")
        await receiver.accept_connections()
        await card_says(service, draft_id, "✅ Delivered")
        [delivery] = await deliveries_of(service.db, draft_id)

    assert [r.status for r in receiver.received] == [500, 500, 503, 200]
    assert len(receiver.accepted()) == 1
    assert {r.webhook_id for r in receiver.received} == {delivery.webhook_id}
    assert len({r.body for r in receiver.received}) == 1  # every retry sends the same bytes
    assert all(r.verified for r in receiver.received)
    assert delivery.status == "succeeded" and delivery.attempts >= 5
    edits = [c.params["text"] for c in fake_telegram.calls_to("editMessageText")]
    assert any("⚠️ <b>Delivery failed</b>: HTTP 500" in text for text in edits)
    assert (await service.draft(draft_id)).status == "sent"


async def _outbox_idle(service: Service) -> bool:
    return all(row.status != "pending" for row in await service.outbox())


async def _attempts(service: Service, draft_id: str, at_least: int) -> bool:
    rows = await deliveries_of(service.db, draft_id)
    return bool(rows) and rows[0].attempts >= at_least


async def test_a_retry_after_is_waited_out(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram, receiver: Receiver
) -> None:
    settings = delivery_settings(telegram_settings, receiver)
    receiver.answer_next(429, retry_after="2")
    async with running_service(settings, fake_telegram, delivery_tuning=FAST_DELIVERY) as service:
        draft_id = await approve(service)
        await fake_telegram.wait_for(lambda: len(receiver.received) == 1, what="an attempt")
        await fake_telegram.wait_for(
            lambda: _attempts(service, draft_id, 1), what="the 429 recorded"
        )
        [waiting] = await deliveries_of(service.db, draft_id)
        await card_says(service, draft_id, "✅ Delivered")

    first, second = receiver.received
    assert (first.status, second.status) == (429, 200)
    assert waiting.last_status == 429
    assert second.at - first.at >= 2.0  # never sooner than the receiver asked
    assert waiting.next_attempt_at - waiting.created_at >= timedelta(seconds=2)


async def test_410_stops_at_once_and_redeliver_sends_a_fresh_delivery(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram, receiver: Receiver
) -> None:
    settings = delivery_settings(telegram_settings, receiver)
    receiver.answer_next(410)
    async with running_service(settings, fake_telegram, delivery_tuning=FAST_DELIVERY) as service:
        draft_id = await approve(service)
        card = await card_says(service, draft_id, "❌ Not delivered")
        [failed] = await service.events("delivery.")
        buttons = card["reply_markup"]["inline_keyboard"]  # type: ignore[index]
        # The reply to copy and the job's link stay; the only action left is to deliver again.
        taps = [b["callback_data"] for row in buttons for b in row if "callback_data" in b]
        assert taps == [f"redeliver:{draft_id}"]
        assert len(receiver.received) == 1  # no retry after a 410
        assert (await service.draft(draft_id)).status == "approved"

        refused = await service.answered(
            await service.tap("redeliver", draft_id, user_id=STRANGER_ID)
        )
        assert len(await deliveries_of(service.db, draft_id)) == 1

        answer = await service.answered(await service.tap("redeliver", draft_id))
        await card_says(service, draft_id, "✅ Delivered")
        again = await service.answered(await service.tap("approve", draft_id))
        await fake_telegram.wait_for(lambda: _outbox_idle(service), what="the card edits sent")
        assert "✅ Delivered" in service.card(draft_id)["text"]  # a late tap keeps it true
        first, second = await deliveries_of(service.db, draft_id)

    assert failed.event == "delivery.failed@1.0"
    assert failed.payload["status"] == 410 and failed.payload["attempts"] == 1
    assert "Sorry" in str(refused["text"])
    assert answer["text"] == "📤 Delivering again…"
    assert again["text"] == "Already sent: it cannot be approved now."
    assert (first.status, second.status) == ("failed", "succeeded")
    assert first.webhook_id != second.webhook_id
    assert [r.webhook_id for r in receiver.accepted()] == [second.webhook_id]
    assert (await service.draft(draft_id)).status == "sent"
    names = [e.event for e in await service.events("delivery.")]
    assert names == ["delivery.failed@1.0", "delivery.succeeded@1.0"]


async def test_a_delivery_gives_up_when_its_day_is_over(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram, receiver: Receiver
) -> None:
    settings = delivery_settings(telegram_settings, receiver)
    short_day = FAST_DELIVERY.__class__(
        **{**FAST_DELIVERY.__dict__, "give_up_after_s": 1.0, "retry_waits_s": (0.1,)}
    )
    receiver.answer_next(500, times=1000)
    async with running_service(settings, fake_telegram, delivery_tuning=short_day) as service:
        draft_id = await approve(service)
        await card_says(service, draft_id, "❌ Not delivered: HTTP 500")
        [delivery] = await deliveries_of(service.db, draft_id)
        events = await service.events("delivery.")

    # Retried meanwhile, unless a busy machine made the first attempt after the day was over.
    assert delivery.status == "failed" and delivery.attempts == len(receiver.received) >= 1
    assert [e.event for e in events] == ["delivery.failed@1.0"]
    assert delivery.finished_at is not None
    assert delivery.finished_at - delivery.created_at >= timedelta(seconds=1)
    assert (await service.draft(draft_id)).status == "approved"


async def test_a_pending_delivery_survives_a_restart_and_keeps_its_webhook_id(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram, receiver: Receiver
) -> None:
    settings = delivery_settings(telegram_settings, receiver)
    slow_retries = FAST_DELIVERY.__class__(**{**FAST_DELIVERY.__dict__, "retry_waits_s": (0.5,)})
    receiver.answer_next(500, times=1000)
    async with running_service(settings, fake_telegram, delivery_tuning=slow_retries) as service:
        draft_id = await approve(service)
        await fake_telegram.wait_for(lambda: len(receiver.received) >= 2, what="two attempts")
    before = len(receiver.received)
    await receiver.refuse_connections()
    receiver.clear_script()
    async with running_service(settings, fake_telegram, delivery_tuning=slow_retries) as service:
        await fake_telegram.wait_for(
            lambda: _attempts(service, draft_id, before + 1), what="an attempt while down"
        )
        await receiver.accept_connections()
        await card_says(service, draft_id, "✅ Delivered")
        [delivery] = await deliveries_of(service.db, draft_id)

    assert len(receiver.accepted()) == 1
    assert {r.webhook_id for r in receiver.received} == {delivery.webhook_id}
    assert (await service.draft(draft_id)).status == "sent"


async def test_without_a_delivery_url_approving_delivers_nothing(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram, receiver: Receiver
) -> None:
    from tests.telegram_support import free_port

    async with running_service(telegram_settings(port=free_port()), fake_telegram) as service:
        draft_id = await approve(service)
        await service.fake.wait_for(  # the operator sends it himself: Mark as sent
            lambda: f"sent:{draft_id}" in str(service.card(draft_id).get("reply_markup")),
            what="the approved card",
        )
        answer = await service.answered(await service.tap("redeliver", draft_id))
        assert await deliveries_of(service.db, draft_id) == []
    assert receiver.received == []
    assert "not configured" in str(answer["text"])
    assert (await service.draft(draft_id)).status == "approved"


async def test_the_logs_name_the_receiver_without_its_credentials(
    telegram_settings: Callable[..., Settings],
    fake_telegram: FakeTelegram,
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    split = urlsplit(receiver.url)
    url = split._replace(netloc=f"operator:pw-7f3a@{split.netloc}").geturl()
    settings = delivery_settings(telegram_settings, receiver, delivery_webhook_url=url)
    async with running_service(settings, fake_telegram, delivery_tuning=FAST_DELIVERY) as service:
        draft_id = await approve(service)
        await card_says(service, draft_id, "✅ Delivered")

    assert f"approved replies are delivered to {split.netloc}" in caplog.text
    assert "pw-7f3a" not in caplog.text and "operator:" not in caplog.text


async def test_approving_in_the_mini_app_delivers_the_reply_too(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram, receiver: Receiver
) -> None:
    """web/ does not know whether deliveries are on: the service gives it the worker's wake."""
    settings = delivery_settings(telegram_settings, receiver)
    async with running_service(settings, fake_telegram, delivery_tuning=FAST_DELIVERY) as service:
        draft_id = str((await service.post_draft())["draft_id"])
        async with service.http.post(
            f"{service.url}/app/api/draft/{draft_id}",
            json={"action": "approve"},
            headers=miniapp_headers(),
        ) as response:
            assert response.status == 200, await response.text()
        await card_says(service, draft_id, "✅ Delivered")
    [request] = receiver.received
    assert request.verified and request.document()["draft"]["id"] == draft_id
    assert (await service.draft(draft_id)).status == "sent"
