"""A fake Telegram Bot API server on loopback, for driving the real python-telegram-bot in tests.

Methods answer at `{base_url}/bot{token}/{method}` like the real Bot API (form-encoded bodies
with JSON-encoded values, as PTB sends them, or JSON bodies). Every call is recorded.
Updates given to `inject_update` are served through `getUpdates` (offset and timeout honoured)
or, once `setWebhook` was called, POSTed to the webhook with its secret header. Failures come
on demand: `fail_next` (500, 429 with `retry_after`, ...), `slow`, `refuse_connections`.

Standalone: `python -m tests.fake_telegram --port 8081` (the benchmarks use it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import inspect
import socket
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from tests.bot_api_rules import BadRequest, check_menu_button, error_response, read_params
from tests.fake_telegram_messages import BOT_USER, MessageStore, chat
from tests.fake_telegram_photos import PhotoStore
from tests.polling import wait_until

WEBHOOK_ATTEMPTS = 5
WEBHOOK_RETRY_DELAY_S = 0.2


@dataclass(slots=True)
class Call:
    """One request the fake answered: its method, decoded parameters and HTTP status."""

    method: str
    params: dict[str, Any]
    status: int = 200
    at: float = field(default_factory=time.monotonic)
    result: Any = None
    """What the fake answered (a sent message: with its visible text and message_id)."""

    @property
    def ok(self) -> bool:
        return self.status == 200


@dataclass(slots=True)
class _Failure:
    status: int
    retry_after: int | None
    description: str | None
    matching: str | None = None
    """Only for calls whose `text` contains this."""


class FakeTelegram:
    def __init__(self, *, token: str | None = None, port: int = 0, record: bool = True) -> None:
        self.token = token
        """When set, other tokens are answered 401 like the real API."""
        self.record = record
        self.calls: list[Call] = []
        self._store = MessageStore()
        self.messages = self._store.messages
        self._photos = PhotoStore(self._store)
        self.photos = self._photos.photos
        """Every photo sent (sendPhoto, sendMediaGroup), with its bytes, in order."""
        """The current state of every message the bot sent, by (chat id, message id)."""
        self.forums: set[int] = set()
        """Supergroups that are forums (getChat says `is_forum`): messages may go to topics."""
        self.topics: dict[tuple[int, int], str] = {}
        """Forum topics created, by (chat id, message_thread_id): their names."""
        self.commands: list[dict[str, Any]] = []
        self.menu_buttons: dict[int | None, dict[str, Any]] = {}
        """setChatMenuButton's buttons by chat id (None: the default for private chats)."""
        self.webhook_url: str | None = None
        self.webhook_secret: str | None = None
        self.webhook_deliveries: list[tuple[int, int | str]] = []
        """(update id, HTTP status or error name) for every webhook POST attempt."""
        self.chats: dict[int, dict[str, Any]] = {}
        """The chats getChat knows: those updates came from (the bot can reach them)."""
        self._port = port
        self._pending: deque[dict[str, Any]] = deque()
        self._next_update_id = 1
        self._failures: dict[str, deque[_Failure]] = {}
        self._delay_s = 0.0
        self._delay_method: str | None = None
        self._new_updates = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._site: web.SockSite | None = None
        self._client: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False

    # --- life cycle ---

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await self.accept_connections()
        self._client = aiohttp.ClientSession()

    @property
    def base_url(self) -> str:
        """What TELEGRAM_API_BASE_URL should be set to."""
        return f"http://127.0.0.1:{self._port}"

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._closing = True
        self._new_updates.set()  # long polls answer now, so the server can close
        if self._client is not None:
            await self._client.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def refuse_connections(self) -> None:
        """Close the listening socket and every open connection: clients get refused."""
        if self._site is not None:
            await self._site.stop()
            self._site = None
        if self._runner is not None and self._runner.server is not None:
            for connection in self._runner.server.connections:
                connection.force_close()

    async def accept_connections(self) -> None:
        """Listen again, on the same port."""
        assert self._runner is not None, "start() first"
        if self._site is not None:
            return
        sock = socket.create_server(("127.0.0.1", self._port))
        self._port = sock.getsockname()[1]
        self._site = web.SockSite(self._runner, sock)
        await self._site.start()

    # --- failures on demand ---

    def fail_next(
        self,
        method: str,
        status: int = 500,
        retry_after: int | None = None,
        times: int = 1,
        description: str | None = None,
        matching: str | None = None,
    ) -> None:
        """Answer the next `times` calls of `method` (`*`: any method) with an error; with
        `matching`, only calls whose `text` contains it."""
        queue = self._failures.setdefault(method, deque())
        queue.extend(_Failure(status, retry_after, description, matching) for _ in range(times))

    def clear_failures(self) -> None:
        """Forget the failures still queued by `fail_next`."""
        self._failures.clear()

    def slow(self, seconds: float, method: str | None = None) -> None:
        """Answer every call (or every call of `method`) `seconds` late, after doing it."""
        self._delay_s, self._delay_method = seconds, method

    # --- updates ---

    def inject_update(self, update: dict[str, Any]) -> int:
        """Queue an update (an `update_id` is added when missing); returns its id."""
        update = dict(update)
        update.setdefault("update_id", self._next_update_id)
        for kind in ("message", "callback_query"):
            message = update.get(kind, {})
            chat = message.get("chat") or message.get("message", {}).get("chat")
            if chat:
                self.chats[int(chat["id"])] = chat
        self._next_update_id = max(self._next_update_id, update["update_id"]) + 1
        self._pending.append(update)
        self._new_updates.set()
        if self.webhook_url:
            self._post_to_webhook_soon(update)
        return int(update["update_id"])

    def _post_to_webhook_soon(self, update: dict[str, Any]) -> None:
        task = asyncio.get_running_loop().create_task(self._post_to_webhook(update))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _post_to_webhook(self, update: dict[str, Any]) -> None:
        headers = {}
        if self.webhook_secret:
            headers["X-Telegram-Bot-Api-Secret-Token"] = self.webhook_secret
        assert self._client is not None
        for _ in range(WEBHOOK_ATTEMPTS):
            url = self.webhook_url
            if url is None:
                return
            try:
                async with self._client.post(url, json=update, headers=headers) as response:
                    self.webhook_deliveries.append((update["update_id"], response.status))
                    if response.status == 200:
                        with contextlib.suppress(ValueError):
                            self._pending.remove(update)
                        return
            except aiohttp.ClientError as error:
                self.webhook_deliveries.append((update["update_id"], type(error).__name__))
            await asyncio.sleep(WEBHOOK_RETRY_DELAY_S)

    # --- what tests look at ---

    def calls_to(self, method: str, *, ok: bool | None = True) -> list[Call]:
        """Calls of `method`: answered successfully (default), failed (False) or all (None)."""
        return [c for c in self.calls if c.method == method and (ok is None or c.ok == ok)]

    def sent_messages(self, chat_id: int | None = None) -> list[dict[str, Any]]:
        """Parameters of every sendMessage Telegram accepted, in order."""
        return [
            c.params
            for c in self.calls_to("sendMessage")
            if chat_id is None or c.params.get("chat_id") == chat_id
        ]

    def delivered(self, chat_id: int | None = None) -> list[dict[str, Any]]:
        """Every message sendMessage created, as Telegram answered it (visible text, id)."""
        return [
            c.result
            for c in self.calls_to("sendMessage")
            if chat_id is None or c.params.get("chat_id") == chat_id
        ]

    def message(self, chat_id: int, message_id: int) -> dict[str, Any]:
        return self.messages[(chat_id, message_id)]

    async def wait_for(
        self, predicate: Callable[[], Any], timeout: float = 15.0, what: str = ""
    ) -> Any:
        """`tests.polling.wait_until`, whose failure also lists the last calls the fake got."""
        try:
            return await wait_until(predicate, what or str(predicate), timeout)
        except AssertionError as error:
            seen = ", ".join(f"{c.method}:{c.status}" for c in self.calls[-20:])
            raise AssertionError(f"{error}; last: {seen}") from None

    # --- the Bot API ---

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if self.token is not None and request.match_info["token"] != self.token:
            return error_response(401, "Unauthorized")
        params = await read_params(request)
        failure = self._take_failure(method, str(params.get("text", "")))
        if failure is not None:
            self._record(Call(method, params, failure.status))
            return error_response(failure.status, failure.description, failure.retry_after)
        try:
            result = await self._answer(method, params)
        except BadRequest as error:
            self._record(Call(method, params, 400))
            return error_response(400, str(error))
        except _Conflict as error:
            self._record(Call(method, params, 409))
            return error_response(409, str(error))
        if result is _NOT_FOUND:
            self._record(Call(method, params, 404))
            return error_response(404, "Not Found")
        self._record(Call(method, params, result=result))
        if self._delay_s and self._delay_method in (None, method):
            await asyncio.sleep(self._delay_s)
        return web.json_response({"ok": True, "result": result})

    def _record(self, call: Call) -> None:
        if self.record:
            self.calls.append(call)

    def _take_failure(self, method: str, text: str) -> _Failure | None:
        for key in (method, "*"):
            for failure in self._failures.get(key, ()):
                if failure.matching is None or failure.matching in text:
                    self._failures[key].remove(failure)
                    return failure
        return None

    async def _answer(self, method: str, params: dict[str, Any]) -> Any:
        handler = _METHODS.get(method)
        if handler is None:
            return _NOT_FOUND
        result = handler(self, params)
        if inspect.isawaitable(result):
            result = await result
        return result

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self.webhook_url:
            raise _Conflict("Conflict: can't use getUpdates method while webhook is active")
        offset = int(params.get("offset") or 0)
        if offset > 0:
            while self._pending and self._pending[0]["update_id"] < offset:
                self._pending.popleft()
        deadline = time.monotonic() + float(params.get("timeout") or 0)
        while not self._pending and not self._closing and time.monotonic() < deadline:
            self._new_updates.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new_updates.wait(), deadline - time.monotonic())
        limit = int(params.get("limit") or 100)
        return list(self._pending)[:limit]

    def _create_forum_topic(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = int(params.get("chat_id") or 0)
        name = str(params.get("name") or "")
        if chat_id not in self.forums:
            raise BadRequest("Bad Request: the chat is not a forum")
        if not 1 <= len(name) <= 128:
            raise BadRequest("Bad Request: TOPIC_NAME_INVALID")
        topic_id = self._store.next_id()  # topics are numbered like messages
        self.topics[(chat_id, topic_id)] = name
        return {"message_thread_id": topic_id, "name": name, "icon_color": 7322096}

    def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = int(params.get("chat_id") or 0)
        topic = params.get("message_thread_id")
        if topic is not None and (chat_id, int(topic)) not in self.topics:
            raise BadRequest("Bad Request: message thread not found")
        message = self._store.send(params)
        if topic is not None:
            message["message_thread_id"] = int(topic)
            message["is_topic_message"] = True
        return message

    def _set_webhook(self, params: dict[str, Any]) -> bool:
        self.webhook_url = params.get("url") or None
        self.webhook_secret = params.get("secret_token") or None
        if params.get("drop_pending_updates"):
            self._pending.clear()
        for update in list(self._pending) if self.webhook_url else []:
            self._post_to_webhook_soon(update)
        return True

    def _delete_webhook(self, params: dict[str, Any]) -> bool:
        self.webhook_url = self.webhook_secret = None
        if params.get("drop_pending_updates"):
            self._pending.clear()
        return True

    def _get_webhook_info(self, _params: dict[str, Any]) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": self.webhook_url or "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._pending),
        }
        last = self.webhook_deliveries[-1][1] if self.webhook_deliveries else 200
        if self.webhook_url and last != 200:
            # As Telegram words it (a refused secret answers 401 Unauthorized).
            reason = f"{last} Unauthorized" if last == 401 else str(last)
            info["last_error_message"] = f"Wrong response from the webhook: {reason}"
            info["last_error_date"] = int(time.time())
        return info

    def _get_chat(self, params: dict[str, Any]) -> dict[str, Any]:
        """A ChatFullInfo, for chats updates came from and for forums (`self.forums`)."""
        chat_id = int(params.get("chat_id") or 0)
        known = self.chats.get(chat_id) or (chat(chat_id) if chat_id in self.forums else None)
        if known is None:
            raise BadRequest("Bad Request: chat not found")
        found = {"accent_color_id": 0, "max_reaction_count": 11, **known}
        if chat_id in self.forums:
            found["is_forum"] = True
        return found

    def _set_my_commands(self, params: dict[str, Any]) -> bool:
        self.commands = list(params.get("commands") or [])
        return True

    def _set_chat_menu_button(self, params: dict[str, Any]) -> bool:
        chat_id = params.get("chat_id")
        if chat_id is not None and int(chat_id) <= 0:
            raise BadRequest("Bad Request: chat not found")  # only private chats have one
        button = check_menu_button(params.get("menu_button") or {"type": "default"})
        self.menu_buttons[None if chat_id is None else int(chat_id)] = button
        return True

    def _get_chat_menu_button(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = params.get("chat_id")
        found = self.menu_buttons.get(None if chat_id is None else int(chat_id))
        return found or self.menu_buttons.get(None) or {"type": "commands"}


class _Conflict(Exception):
    pass


_NOT_FOUND = object()

_METHODS: dict[str, Callable[[FakeTelegram, dict[str, Any]], Any]] = {
    "getMe": lambda fake, _: BOT_USER,
    "logOut": lambda fake, _: True,
    "close": lambda fake, _: True,
    "getUpdates": FakeTelegram._get_updates,
    "sendMessage": FakeTelegram._send_message,
    "createForumTopic": FakeTelegram._create_forum_topic,
    "editMessageText": lambda fake, p: fake._store.edit(p, text=True),
    "editMessageReplyMarkup": lambda fake, p: fake._store.edit(p, text=False),
    "answerCallbackQuery": lambda fake, _: True,
    "sendChatAction": lambda fake, _: True,
    "sendPhoto": lambda fake, p: fake._photos.send_photo(p),
    "sendMediaGroup": lambda fake, p: fake._photos.send_media_group(p),
    "deleteMessage": lambda fake, p: fake._store.delete(p),
    "setWebhook": FakeTelegram._set_webhook,
    "deleteWebhook": FakeTelegram._delete_webhook,
    "getWebhookInfo": FakeTelegram._get_webhook_info,
    "getChat": FakeTelegram._get_chat,
    "setMyCommands": FakeTelegram._set_my_commands,
    "getMyCommands": lambda fake, _: fake.commands,
    "deleteMyCommands": lambda fake, _: True,
    "setChatMenuButton": FakeTelegram._set_chat_menu_button,
    "getChatMenuButton": FakeTelegram._get_chat_menu_button,
}


async def _serve_forever(port: int, token: str | None, record: bool) -> None:
    fake = FakeTelegram(token=token, port=port, record=record)
    await fake.start()
    print(f"fake Telegram Bot API listening at {fake.base_url}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await fake.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="A fake Telegram Bot API server on loopback.")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", default=None, help="accept only this bot token")
    parser.add_argument("--no-record", action="store_true", help="keep no call log (benchmarks)")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_forever(args.port, args.token, not args.no_record))


if __name__ == "__main__":
    main()
