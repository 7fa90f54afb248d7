"""`POST /webhook/telegram` (and its alias `/webhook/telegram-callback`): updates in webhook mode.

Telegram sends the secret given to setWebhook in `X-Telegram-Bot-Api-Secret-Token`; anything
else is answered 401 and dropped before its body is read. A valid update goes through the same
handlers as in polling mode (the bot hands in `feed`). While the bot is still connecting, the
answer is 503, and Telegram delivers the update again later.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from web.endpoints import Endpoint, json_response, read_json_body
from web.errors import ApiError

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
PATHS = ("/webhook/telegram", "/webhook/telegram-callback")

UpdateFeed = Callable[[dict[str, Any]], Awaitable[bool]]


class TelegramAck(BaseModel):
    ok: bool = True


def telegram_webhook_endpoints(secret: str, feed: UpdateFeed) -> list[Endpoint]:
    expected = secret.encode()

    async def receive(request: web.Request) -> web.Response:
        # A header that is not UTF-8 reaches us with surrogate escapes: it must not match (a
        # secret is only A-Z a-z 0-9 _ -), nor raise.
        given = request.headers.get(SECRET_HEADER, "").encode(errors="replace")
        if not hmac.compare_digest(given, expected):
            raise ApiError(401, "unauthorized", f"Missing or wrong {SECRET_HEADER} header.")
        raw = await read_json_body(request)
        try:
            update = json.loads(raw)
        except ValueError:
            raise ApiError(400, "malformed_json", "The body is not valid JSON.") from None
        if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
            raise ApiError(422, "validation_error", "The body must be a Telegram Update.")
        if not await feed(update):
            raise ApiError(503, "telegram_not_ready", "The bot is still connecting; retry later.")
        return json_response(TelegramAck())

    endpoints = []
    for path in PATHS:
        handler = _named(
            receive, "receive_telegram_update" + path.removeprefix("/webhook/telegram")
        )
        endpoints.append(
            Endpoint(
                "POST",
                path,
                handler,
                "Telegram updates in webhook mode (X-Telegram-Bot-Api-Secret-Token).",
                responses={200: TelegramAck},
                errors=(400, 401, 415, 422, 503),
                security="telegram_secret",
            )
        )
    return endpoints


def _named(
    handler: Callable[[web.Request], Awaitable[web.Response]], name: str
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """A copy of `handler` under its own name: each route needs its own OpenAPI operationId."""

    async def named(request: web.Request) -> web.Response:
        return await handler(request)

    named.__name__ = name.replace("-", "_")
    return named
