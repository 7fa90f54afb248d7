"""Standard Webhooks signing of a delivery, and reading the receiver's `Retry-After`."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from standardwebhooks import Webhook


def signed_headers(key: bytes, webhook_id: str, body: str, now: datetime) -> dict[str, str]:
    """The headers of one attempt: the id (the same on every attempt), the attempt's
    timestamp, and `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` under `key`."""
    moment = now.astimezone(UTC)
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(math.floor(moment.timestamp())),
        "webhook-signature": Webhook(key).sign(webhook_id, moment, body),
        "content-type": "application/json",
    }


def retry_after_s(value: str | None, now: datetime) -> float | None:
    """`Retry-After` in seconds from `now`: delay-seconds or an HTTP date; None if absent or
    unreadable (a past date counts as 0)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - now).total_seconds())
