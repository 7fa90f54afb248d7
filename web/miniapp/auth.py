"""Who is calling `/app/api/*`: the validated initData's user, if the operator allows them.

Allowed (contract §5, as in a private chat with the bot): TELEGRAM_CHAT_ID when it is a user
id, and TELEGRAM_ALLOWED_USER_IDS. Members of an operator group are not allowed here: the Mini
App runs outside the group, where only named users act.
"""

from __future__ import annotations

import time

from aiohttp import web

from web.config import WebSettings
from web.errors import ApiError
from web.miniapp.init_data import InvalidInitData, WebAppUser, validate

HEADER = "X-Telegram-Init-Data"


def may_act(settings: WebSettings, user_id: int) -> bool:
    operator = settings.telegram_chat_id
    return (operator is not None and operator > 0 and user_id == operator) or (
        user_id in settings.telegram_allowed_user_ids
    )


def authenticate(request: web.Request, settings: WebSettings) -> WebAppUser:
    """The allowed user behind this request; 503 with Telegram off, 401 / 403 otherwise."""
    if settings.telegram_bot_token is None:
        raise ApiError(
            503,
            "telegram_disabled",
            "The Mini App needs TELEGRAM_BOT_TOKEN to check who is calling.",
        )
    raw = request.headers.get(HEADER)
    if not raw:
        raise ApiError(401, "unauthorized", f"Missing {HEADER} header; open this from Telegram.")
    try:
        user = validate(
            raw, bot_token=settings.telegram_bot_token.get_secret_value(), now=time.time()
        )
    except InvalidInitData as error:
        raise ApiError(401, "unauthorized", f"{str(error).capitalize()}.") from None
    if not may_act(settings, user.id):
        raise ApiError(403, "forbidden", f"Telegram user {user.id} may not act on drafts.")
    return user
