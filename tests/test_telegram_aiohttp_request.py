"""The aiohttp transport drives the real PTB Bot over HTTP as HTTPXRequest would: same encodings,
same exceptions, timeouts honoured per call, and never the token in an error."""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import NetworkError, RetryAfter, TimedOut

from bot.telegram.aiohttp_request import AiohttpRequest
from tests.conftest import TELEGRAM_TOKEN
from tests.fake_telegram import FakeTelegram
from tests.fake_telegram_messages import BOT_USER, chat

log = logging.getLogger(__name__)

MakeBot = Callable[..., Bot]


@pytest.fixture
async def make_bot(fake_telegram: FakeTelegram) -> AsyncIterator[MakeBot]:
    """Bots on the fake Bot API over AiohttpRequest (short timeouts), shut down afterwards."""
    bots: list[Bot] = []

    def make(**timeouts: Any) -> Bot:
        values = {"connect_timeout": 1.0, "read_timeout": 0.3, "write_timeout": 1.0, **timeouts}
        bot = Bot(
            TELEGRAM_TOKEN,
            base_url=f"{fake_telegram.base_url}/bot",
            request=AiohttpRequest(**values),
            get_updates_request=AiohttpRequest(**values),
        )
        bots.append(bot)
        return bot

    yield make
    for bot in bots:
        await bot.shutdown()


def assert_no_token(error: BaseException) -> None:
    """Neither the error, its repr, nor its whole traceback (causes included) shows the token."""
    shown = [str(error), repr(error), "".join(traceback.format_exception(error))]
    secret = TELEGRAM_TOKEN.partition(":")[2]
    assert all(secret not in text for text in shown), shown
    log.warning("a Bot API call failed: %r", error, exc_info=error)  # the secret guard reads this


async def test_a_message_is_sent_as_form_fields_and_recorded(
    make_bot: MakeBot, fake_telegram: FakeTelegram
) -> None:
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Approve", callback_data="approve:1")]])
    bot = make_bot()
    await bot.initialize()
    sent = await bot.send_message(42, "<b>Hi</b> 🎉", parse_mode="HTML", reply_markup=markup)
    assert sent.text == "Hi 🎉"
    assert fake_telegram.sent_messages(chat_id=42) == [
        {
            "chat_id": 42,
            "text": "<b>Hi</b> 🎉",
            "parse_mode": "HTML",
            "reply_markup": markup.to_dict(),
        }
    ]
    assert [c.method for c in fake_telegram.calls] == ["getMe", "sendMessage"]


async def test_error_answers_surface_as_ptb_exceptions(
    make_bot: MakeBot, fake_telegram: FakeTelegram
) -> None:
    bot = make_bot()
    await bot.initialize()
    fake_telegram.fail_next("sendMessage", status=429, retry_after=7)
    fake_telegram.fail_next("sendMessage", status=500)
    with pytest.raises(RetryAfter) as flood:
        await bot.send_message(1, "a")
    assert flood.value.retry_after == timedelta(seconds=7)
    with pytest.raises(NetworkError) as server_error:
        await bot.send_message(1, "a")
    assert not isinstance(server_error.value, TimedOut)
    await bot.send_message(1, "a")
    assert [c.status for c in fake_telegram.calls_to("sendMessage", ok=None)] == [429, 500, 200]


async def test_an_answer_slower_than_the_read_timeout_times_out(
    make_bot: MakeBot, fake_telegram: FakeTelegram
) -> None:
    bot = make_bot()
    await bot.initialize()
    fake_telegram.slow(0.6, method="sendMessage")
    with pytest.raises(TimedOut) as timed_out:
        await bot.send_message(1, "slow")
    assert_no_token(timed_out.value)
    assert [m["text"] for m in fake_telegram.sent_messages()] == ["slow"]


async def test_a_longer_read_timeout_per_call_is_honoured(
    make_bot: MakeBot, fake_telegram: FakeTelegram
) -> None:
    bot = make_bot()
    await bot.initialize()
    fake_telegram.slow(0.6, method="sendMessage")
    sent = await bot.send_message(1, "patient", read_timeout=2)
    assert sent.text == "patient"


async def test_long_polling_adds_its_duration_to_the_read_timeout(
    make_bot: MakeBot, fake_telegram: FakeTelegram
) -> None:
    bot = make_bot()
    await bot.initialize()
    started = asyncio.get_running_loop().time()
    assert await bot.get_updates(timeout=1) == ()
    assert asyncio.get_running_loop().time() - started >= 0.9


async def test_refused_connections_are_network_errors_until_accepted_again(
    make_bot: MakeBot, fake_telegram: FakeTelegram
) -> None:
    bot = make_bot()
    await bot.initialize()
    await fake_telegram.refuse_connections()
    # The first try may reuse the kept-alive connection just cut (ServerDisconnectedError).
    for _ in range(2):
        with pytest.raises(NetworkError) as refused:
            await bot.send_message(1, "a")
        assert_no_token(refused.value)
    assert str(refused.value).startswith("aiohttp.ClientConnectorError: Cannot connect")
    await fake_telegram.accept_connections()
    await bot.send_message(1, "back")
    assert [m["text"] for m in fake_telegram.sent_messages()] == ["back"]


async def test_waiting_too_long_for_a_pooled_connection_times_out_unsent(
    make_bot: MakeBot, fake_telegram: FakeTelegram
) -> None:
    # aiohttp's own message for this quotes the whole URL, token included.
    bot = make_bot(connection_pool_size=1, pool_timeout=0.1, read_timeout=2.0)
    await bot.initialize()
    fake_telegram.slow(0.5, method="sendMessage")
    first = asyncio.create_task(bot.send_message(1, "first"))
    await fake_telegram.wait_for(lambda: fake_telegram.sent_messages(), what="the first send")
    with pytest.raises(TimedOut, match="not sent") as timed_out:
        await bot.send_message(1, "second", connect_timeout=0.1)
    assert_no_token(timed_out.value)
    await first
    assert [m["text"] for m in fake_telegram.sent_messages()] == ["first"]


async def test_an_unusable_url_is_a_network_error_without_the_token() -> None:
    async with AiohttpRequest() as request:
        with pytest.raises(NetworkError) as refused:
            await request.post(f"ftp://127.0.0.1/bot{TELEGRAM_TOKEN}/getMe")
    assert "aiohttp.NonHttpUrlClientError" in str(refused.value)
    assert "/<redacted>/getMe" in str(refused.value)
    assert_no_token(refused.value)


async def test_it_refuses_requests_until_initialized_and_after_shutdown(
    make_bot: MakeBot, fake_telegram: FakeTelegram
) -> None:
    request = AiohttpRequest(read_timeout=0.3)
    assert request.read_timeout == 0.3
    url = f"{fake_telegram.base_url}/bot{TELEGRAM_TOKEN}/getMe"
    with pytest.raises(RuntimeError, match="not initialized"):
        await request.do_request(url, "POST")
    for _ in range(2):
        await request.initialize()
    assert (await request.do_request(url, "POST"))[0] == 200
    for _ in range(2):
        await request.shutdown()
    with pytest.raises(RuntimeError, match="not initialized"):
        await request.do_request(url, "POST")

    bot = make_bot()
    await bot.initialize()
    await bot.shutdown()
    with pytest.raises(NetworkError, match="not initialized"):
        await bot.send_message(1, "after shutdown")
    assert fake_telegram.sent_messages() == []


async def test_files_go_as_multipart_with_the_other_parameters(aiohttp_server: Any) -> None:
    received: list[dict[str, Any]] = []

    async def echo(request: web.Request) -> web.Response:
        if request.match_info["method"] == "getMe":
            return web.json_response({"ok": True, "result": BOT_USER})
        fields: dict[str, Any] = {}
        async for part in await request.multipart():
            content = await part.read()  # type: ignore[union-attr]
            fields[part.name or ""] = (
                (part.filename, part.headers["Content-Type"], bytes(content))  # type: ignore[union-attr]
                if part.filename  # type: ignore[union-attr]
                else content.decode()
            )
        received.append({"user_agent": request.headers["User-Agent"], "fields": fields})
        message = {"message_id": 1, "date": 0, "chat": chat(42), "caption": "notes"}
        return web.json_response({"ok": True, "result": message})

    app = web.Application()
    app.router.add_post("/bot{token}/{method}", echo)
    server = await aiohttp_server(app, access_log=None)  # its lines would show the token
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Open", callback_data="open:1")]])
    request = AiohttpRequest(read_timeout=2.0)
    async with Bot(TELEGRAM_TOKEN, base_url=str(server.make_url("/bot")), request=request) as bot:
        await bot.send_document(
            42, b"line one\n", filename="notes.txt", caption="notes", reply_markup=markup
        )
    [call] = received
    assert call["user_agent"] == AiohttpRequest.USER_AGENT
    fields = call["fields"]
    assert fields["chat_id"] == "42"
    assert fields["caption"] == "notes"
    assert fields["reply_markup"] == markup.to_json()
    assert fields["document"] == ("notes.txt", "text/plain", b"line one\n")
