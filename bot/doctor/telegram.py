"""The Telegram checks: the token (getMe), the operator chat (getChat) or pairing, and the
webhook (getWebhookInfo). Only read methods are called."""

from __future__ import annotations

from typing import Any

import aiohttp

from bot.doctor.checks import Check
from bot.settings import Settings
from storage.engine import create_engine, session_factory
from storage.repo import operator_pairing

TIMEOUT = aiohttp.ClientTimeout(total=10)


class BotApiError(Exception):
    """Telegram answered `ok: false`, or could not be reached; the message says which."""


async def check_telegram(settings: Settings, *, database_ok: bool) -> list[Check]:
    """`database_ok`: the database holds a schema, so a pairing can be looked up."""
    if settings.telegram_bot_token is None:
        return [
            Check(
                "bot token",
                "warn",
                "TELEGRAM_BOT_TOKEN is not set: the bot is off (create one with @BotFather)",
            ),
            *_not_checked("there is no bot"),
        ]
    base = settings.telegram_api_base_url.rstrip("/")
    token = settings.telegram_bot_token.get_secret_value()
    async with aiohttp.ClientSession(timeout=TIMEOUT) as http:

        async def call(method: str, **params: Any) -> Any:
            try:
                async with http.post(f"{base}/bot{token}/{method}", json=params) as response:
                    answer = await response.json(content_type=None)
            except (aiohttp.ClientError, TimeoutError, ValueError) as error:
                raise BotApiError(f"cannot reach {base} ({type(error).__name__})") from None
            if not isinstance(answer, dict) or not answer.get("ok"):
                description = answer.get("description") if isinstance(answer, dict) else None
                raise BotApiError(f"Telegram answered: {description or response.status}")
            return answer["result"]

        try:
            me = await call("getMe")
        except BotApiError as error:
            return [
                Check(
                    "bot token",
                    "FAIL",
                    f"{error}: copy the token again from @BotFather into TELEGRAM_BOT_TOKEN",
                ),
                *_not_checked("the token did not work"),
            ]
        checks = [Check("bot token", "ok", f"the bot is @{me.get('username', '?')}")]
        checks.append(await _operator_chat(settings, call, database_ok))
        checks.append(await _webhook(settings, call))
    return checks


def _not_checked(why: str) -> list[Check]:
    return [Check(name, "warn", f"not checked: {why}") for name in ("operator chat", "webhook")]


async def _operator_chat(settings: Settings, call: Any, database_ok: bool) -> Check:
    chat_id, source = settings.telegram_chat_id, "TELEGRAM_CHAT_ID"
    if chat_id is None:
        if not database_ok:
            return Check("operator chat", "warn", "unknown: no database to read a pairing from")
        try:
            chat_id, source = await _paired_chat(settings), "the pairing"
        except Exception:  # the database check says why
            return Check("operator chat", "warn", "unknown: the database is unreachable")
    if chat_id is None:
        return Check(
            "operator chat",
            "warn",
            "pairing: no operator yet; send the bot /start <code>, the code being in the "
            "service's log (`Pairing code: …`), or set TELEGRAM_CHAT_ID",
        )
    try:
        chat = await call("getChat", chat_id=chat_id)
    except BotApiError as error:
        return Check(
            "operator chat",
            "FAIL",
            f"the bot cannot reach chat {chat_id} from {source} ({error}): open the bot in "
            "Telegram and press Start from that chat (or add it to the group), or fix "
            f"{source}",
        )
    name = chat.get("title") or chat.get("first_name") or chat.get("username") or chat_id
    return Check("operator chat", "ok", f"{chat.get('type', 'chat')} {name} ({source})")


async def _paired_chat(settings: Settings) -> int | None:
    engine = create_engine(settings.database_url)
    try:
        async with session_factory(engine)() as session:
            return await operator_pairing.paired_chat_id(session=session)
    finally:
        await engine.dispose()


async def _webhook(settings: Settings, call: Any) -> Check:
    try:
        info = await call("getWebhookInfo")
    except BotApiError as error:
        return Check("webhook", "FAIL", f"getWebhookInfo failed ({error})")
    url, last_error = info.get("url") or "", info.get("last_error_message")
    if settings.telegram_mode == "polling":
        if url:
            return Check(
                "webhook",
                "warn",
                f"polling mode, but a webhook is set ({url}): another deployment may use this "
                "token; the service removes it at start",
            )
        return Check("webhook", "ok", "polling mode, no webhook set")
    expected = settings.public_webhook_url
    if not url:
        return Check(
            "webhook",
            "FAIL",
            f"no webhook is set: start the service (it sets {expected}) and read its log",
        )
    if url != expected:
        return Check(
            "webhook",
            "FAIL",
            f"set to {url}, not {expected}: another deployment uses this bot token; stop it, "
            "or give this one its own bot; restarting this service sets it back",
        )
    if last_error:
        # A 401 here is TELEGRAM_WEBHOOK_SECRET differing from the one given to setWebhook.
        return Check(
            "webhook",
            "FAIL",
            f"set to {url}, but Telegram's last delivery failed: {last_error} (a 401 means "
            "TELEGRAM_WEBHOOK_SECRET changed: restart the service)",
        )
    return Check("webhook", "ok", f"set to {url}, with TELEGRAM_WEBHOOK_SECRET")
