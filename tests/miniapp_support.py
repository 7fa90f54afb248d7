"""Mini App test helpers: `initData` signed the way Telegram documents it, computed here
independently of web/miniapp/init_data.py, and the web app with Telegram settings."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import urlencode

from tests.conftest import TELEGRAM_TOKEN
from tests.telegram_updates import OPERATOR_ID

HEADER = "X-Telegram-Init-Data"
ALLOWED_ID = 5550002
"""A user of TELEGRAM_ALLOWED_USER_IDS in these tests."""


def init_data(
    user_id: int = OPERATOR_ID,
    *,
    token: str = TELEGRAM_TOKEN,
    age_s: float = 0,
    first_name: str = "Nicolas",
    **extra: str,
) -> str:
    """The query string Telegram hands a Mini App: fields, then `hash` over the others."""
    fields = {
        "query_id": "AAHdF6IQAAAAAN0XohDhrOrc",
        "user": json.dumps(
            {
                "id": user_id,
                "first_name": first_name,
                "username": "nicolas",
                "language_code": "en",
            },
            separators=(",", ":"),
        ),
        "auth_date": str(int(time.time() - age_s)),
        **extra,
    }
    check = "\n".join(f"{key}={fields[key]}" for key in sorted(fields))
    secret = hmac.new(b"WebAppData", token.encode(), hashlib.sha256).digest()
    fields["hash"] = hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()
    return urlencode(fields)


def headers(user_id: int = OPERATOR_ID, **kwargs: Any) -> dict[str, str]:
    return {HEADER: init_data(user_id, **kwargs)}
