"""Telegram Mini App `initData`, checked exactly as Telegram documents it.

secret = HMAC-SHA256(key="WebAppData", msg=bot token); the `hash` field must equal the hex
HMAC-SHA256(key=secret, msg=data-check-string), where the data-check-string is every other
field as `key=value`, sorted by key, joined by "\\n". Compared in constant time; `auth_date`
at most `max_age_s` old. Nothing but the validated fields is trusted.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from urllib.parse import parse_qsl

MAX_AGE_S = 24 * 3600
CLOCK_SKEW_S = 300
"""An `auth_date` this far in the future is still accepted (clocks differ a little)."""
MAX_INIT_DATA = 8192


class InvalidInitData(Exception):
    """The initData is missing a part, forged, tampered with or too old (the reason says)."""


@dataclass(frozen=True)
class WebAppUser:
    id: int
    name: str


def secret_key(bot_token: str) -> bytes:
    return hmac.new(b"WebAppData", bot_token.encode(), hashlib.sha256).digest()


def data_check_string(fields: dict[str, str]) -> str:
    return "\n".join(f"{key}={fields[key]}" for key in sorted(fields) if key != "hash")


def sign(fields: dict[str, str], bot_token: str) -> str:
    """The `hash` Telegram would give these fields (tests build initData with it)."""
    check = data_check_string(fields).encode()
    return hmac.new(secret_key(bot_token), check, hashlib.sha256).hexdigest()


def validate(
    init_data: str, *, bot_token: str, now: float, max_age_s: int = MAX_AGE_S
) -> WebAppUser:
    """The user the initData names, once its signature and age check out."""
    if not init_data or len(init_data) > MAX_INIT_DATA:
        raise InvalidInitData("initData is missing or too long")
    try:
        pairs = parse_qsl(init_data, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise InvalidInitData("initData is not a query string") from None
    fields = dict(pairs)
    if len(fields) != len(pairs):
        raise InvalidInitData("initData repeats a field")
    given = fields.get("hash", "")
    expected = sign(fields, bot_token)
    if not hmac.compare_digest(given.encode(errors="replace"), expected.encode()):
        raise InvalidInitData("initData's signature does not match")
    try:
        auth_date = int(fields["auth_date"])
    except (KeyError, ValueError):
        raise InvalidInitData("initData has no valid auth_date") from None
    if not now - max_age_s <= auth_date <= now + CLOCK_SKEW_S:
        raise InvalidInitData("initData has expired; reopen the Mini App")
    return _user(fields.get("user"))


def _user(raw: str | None) -> WebAppUser:
    try:
        user = json.loads(raw or "")
        user_id = user["id"]
    except (ValueError, TypeError, KeyError):
        raise InvalidInitData("initData names no user") from None
    if type(user_id) is not int:
        raise InvalidInitData("initData names no user")
    name = " ".join(str(user.get(key) or "") for key in ("first_name", "last_name")).strip()
    return WebAppUser(id=user_id, name=name or f"user {user_id}")
