"""The fake Bot API answers the real python-telegram-bot as Telegram would, and fails on cue."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import (
    BadRequest,
    Conflict,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)

from bot.telegram.aiohttp_request import AiohttpRequest
from tests.conftest import TELEGRAM_TOKEN
from tests.fake_telegram import FakeTelegram
from tests.telegram_support import free_port
from tests.telegram_updates import callback_query_update, message_update

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
async def bot(fake_telegram: FakeTelegram) -> AsyncIterator[Bot]:
    """PTB on the transport the service uses (httpx would log the token-bearing URLs)."""
    timeouts = {"connect_timeout": 1, "read_timeout": 1, "write_timeout": 1}
    async with Bot(
        TELEGRAM_TOKEN,
        base_url=f"{fake_telegram.base_url}/bot",
        request=AiohttpRequest(**timeouts),
        get_updates_request=AiohttpRequest(**timeouts),
    ) as b:
        yield b


async def test_send_message_is_recorded_with_decoded_parameters(
    bot: Bot, fake_telegram: FakeTelegram
) -> None:
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Approve", callback_data="approve:1")]])
    sent = await bot.send_message(42, "<b>Hi</b> &lt;3 🎉", parse_mode="HTML", reply_markup=markup)
    assert sent.text == "Hi <3 🎉"
    assert fake_telegram.sent_messages(chat_id=42) == [
        {
            "chat_id": 42,
            "text": "<b>Hi</b> &lt;3 🎉",
            "parse_mode": "HTML",
            "reply_markup": {
                "inline_keyboard": [[{"text": "Approve", "callback_data": "approve:1"}]]
            },
        }
    ]
    assert fake_telegram.message(42, sent.message_id)["reply_markup"] == markup.to_dict()
    assert [c.method for c in fake_telegram.calls] == ["getMe", "sendMessage"]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("<b>unclosed", "end tag"),
        ("a < b", "Unsupported start tag"),
        ("<script>x</script>", "Unsupported start tag"),
        ("fish & chips", "entity"),
        ("x" * 4097, "too long"),
        ("🎉" * 2049, "too long"),
    ],
)
async def test_text_telegram_would_refuse_is_refused(
    bot: Bot, fake_telegram: FakeTelegram, text: str, error: str
) -> None:
    with pytest.raises(BadRequest, match=f"(?i){error}"):
        await bot.send_message(42, text, parse_mode="HTML")
    assert fake_telegram.sent_messages() == []
    assert fake_telegram.calls_to("sendMessage", ok=False)[0].status == 400


async def test_fail_next_answers_429_with_retry_after_then_500_then_succeeds(
    bot: Bot, fake_telegram: FakeTelegram
) -> None:
    fake_telegram.fail_next("sendMessage", status=429, retry_after=7)
    fake_telegram.fail_next("sendMessage", status=500, times=2)
    with pytest.raises(RetryAfter) as flood:
        await bot.send_message(1, "a")
    assert flood.value._retry_after.total_seconds() == 7
    for _ in range(2):
        with pytest.raises(NetworkError):
            await bot.send_message(1, "a")
    await bot.send_message(1, "a")
    statuses = [c.status for c in fake_telegram.calls_to("sendMessage", ok=None)]
    assert statuses == [429, 500, 500, 200]
    assert len(fake_telegram.sent_messages()) == 1


async def test_refused_connections_are_network_errors_until_accepted_again(
    bot: Bot, fake_telegram: FakeTelegram
) -> None:
    await fake_telegram.refuse_connections()
    for _ in range(2):
        with pytest.raises(NetworkError):
            await bot.send_message(1, "a")
    await fake_telegram.accept_connections()
    await bot.send_message(1, "back")
    assert [m["text"] for m in fake_telegram.sent_messages()] == ["back"]


async def test_a_slow_answer_times_out_after_the_message_was_delivered(
    bot: Bot, fake_telegram: FakeTelegram
) -> None:
    fake_telegram.slow(1.5, method="sendMessage")
    with pytest.raises(TimedOut):
        await bot.send_message(1, "slow")
    assert [m["text"] for m in fake_telegram.sent_messages()] == ["slow"]


async def test_get_updates_honours_offset_and_long_poll_timeout(
    bot: Bot, fake_telegram: FakeTelegram
) -> None:
    first = fake_telegram.inject_update(message_update("/start"))
    second = fake_telegram.inject_update(callback_query_update("approve:x"))
    updates = await bot.get_updates(timeout=0)
    assert [u.update_id for u in updates] == [first, second]
    assert updates[0].message is not None and updates[0].message.text == "/start"
    assert updates[1].callback_query is not None and updates[1].callback_query.data == "approve:x"
    assert [u.update_id for u in await bot.get_updates(offset=second, timeout=0)] == [second]

    started = time.monotonic()
    assert await bot.get_updates(offset=second + 1, timeout=1, read_timeout=3) == ()
    assert time.monotonic() - started >= 0.9

    async def inject_later() -> int:
        await asyncio.sleep(0.2)
        return fake_telegram.inject_update(message_update("late"))

    late, updates = await asyncio.gather(
        inject_later(), bot.get_updates(offset=second + 1, timeout=5, read_timeout=8)
    )
    assert [u.update_id for u in updates] == [late]


async def test_webhook_mode_posts_updates_with_the_secret_and_refuses_get_updates(
    bot: Bot, fake_telegram: FakeTelegram, aiohttp_server: Any
) -> None:
    received: list[tuple[str | None, dict[str, Any]]] = []

    async def webhook(request: web.Request) -> web.Response:
        received.append(
            (request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json())
        )
        return web.Response(status=200 if len(received) > 1 else 500)

    app = web.Application()
    app.router.add_post("/hook", webhook)
    server = await aiohttp_server(app)
    await bot.set_webhook(str(server.make_url("/hook")), secret_token="s3cret")
    update_id = fake_telegram.inject_update(message_update("hello"))

    await fake_telegram.wait_for(
        lambda: len(fake_telegram.webhook_deliveries) == 2, what="a retried webhook delivery"
    )
    assert [secret for secret, _ in received] == ["s3cret", "s3cret"]
    assert received[1][1]["update_id"] == update_id
    assert fake_telegram.webhook_deliveries == [(update_id, 500), (update_id, 200)]
    with pytest.raises(Conflict, match="webhook is active"):
        await bot.get_updates()


async def test_json_bodies_and_the_token_check(fake_telegram: FakeTelegram) -> None:
    async with aiohttp.ClientSession() as client:
        url = f"{fake_telegram.base_url}/bot{TELEGRAM_TOKEN}/sendMessage"
        async with client.post(url, json={"chat_id": 3, "text": "json"}) as response:
            body = await response.json()
    assert body["ok"] is True and body["result"]["text"] == "json"
    assert fake_telegram.sent_messages(chat_id=3) == [{"chat_id": 3, "text": "json"}]

    strict = FakeTelegram(token=TELEGRAM_TOKEN)
    await strict.start()
    try:
        wrong = Bot("1:wrong", base_url=f"{strict.base_url}/bot")
        with pytest.raises(InvalidToken):
            await wrong.initialize()
        await wrong.shutdown()
    finally:
        await strict.stop()


async def test_editing_a_message_changes_it_and_an_identical_edit_is_refused(
    bot: Bot, fake_telegram: FakeTelegram
) -> None:
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("A", callback_data="approve:1")]])
    sent = await bot.send_message(9, "before", reply_markup=markup)
    await bot.edit_message_text(
        "<i>after</i>", chat_id=9, message_id=sent.message_id, parse_mode="HTML"
    )
    assert fake_telegram.message(9, sent.message_id)["text"] == "after"
    assert "reply_markup" not in fake_telegram.message(9, sent.message_id)
    with pytest.raises(BadRequest, match="not modified"):
        await bot.edit_message_text("after", chat_id=9, message_id=sent.message_id)
    with pytest.raises(BadRequest, match="not found"):
        await bot.edit_message_text("x", chat_id=9, message_id=123456)


async def test_it_runs_standalone_for_the_benchmarks() -> None:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.fake_telegram", "--port", str(port), "--no-record",
        cwd=ROOT, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), timeout=20)
        assert line.decode().strip().endswith(f"http://127.0.0.1:{port}")
        async with aiohttp.ClientSession() as client:
            url = f"http://127.0.0.1:{port}/bot{TELEGRAM_TOKEN}/sendMessage"
            async with client.post(url, data={"chat_id": "5", "text": "hi"}) as response:
                assert (await response.json())["result"]["text"] == "hi"
    finally:
        process.terminate()
        await process.wait()


async def test_photos_are_uploaded_whole_and_only_images_pass(
    bot: Bot, fake_telegram: FakeTelegram
) -> None:
    from telegram import InputMediaPhoto

    from bot.charts import chart_png
    from tests.test_charts import busy_stats

    png = chart_png("leads", busy_stats(7))
    sent = await bot.send_photo(42, png, caption="<b>Leads</b> &amp; more", parse_mode="HTML")
    assert sent.photo[-1].width == 1080 and sent.caption == "Leads & more"
    album = await bot.send_media_group(
        42, [InputMediaPhoto(png, caption="first"), InputMediaPhoto(png)]
    )
    assert [m.caption for m in album] == ["first", None]
    assert [p.data for p in fake_telegram.photos] == [png] * 3
    with pytest.raises(BadRequest, match=r"(?i)image_process_failed"):
        await bot.send_photo(42, b"not an image")
    with pytest.raises(BadRequest, match=r"(?i)wrong number of messages"):
        await bot.send_media_group(42, [InputMediaPhoto(png)])
