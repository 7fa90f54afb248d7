"""Opaque keyset cursors: base64url JSON naming the listing they belong to.

Listings order newest first, either by integer id or by (created_at, id).
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any

from web.errors import ApiError
from web.schemas import is_storable

# Ids are BIGINT: a larger number cannot name a row, and the driver would refuse it.
MAX_ID = 2**63 - 1


def _encode(listing: str, key: list[Any]) -> str:
    raw = json.dumps({"l": listing, "k": key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(listing: str, cursor: str) -> list[Any]:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        data = None
    if (
        not isinstance(data, dict)
        or data.get("l") != listing
        or not isinstance(data.get("k"), list)
    ):
        raise _invalid()
    return data["k"]


def _invalid() -> ApiError:
    return ApiError(400, "invalid_cursor", "The cursor is not one this listing issued.")


def id_cursor(listing: str, last_id: int) -> str:
    return _encode(listing, [last_id])


def decode_id_cursor(listing: str, cursor: str) -> int:
    key = _decode(listing, cursor)
    if len(key) != 1 or type(key[0]) is not int or not 0 < key[0] <= MAX_ID:
        raise _invalid()
    return key[0]


def time_cursor(listing: str, created_at: datetime, last_id: str) -> str:
    return _encode(listing, [created_at.isoformat(), last_id])


def decode_time_cursor(listing: str, cursor: str) -> tuple[datetime, str]:
    key = _decode(listing, cursor)
    if len(key) != 2 or not all(isinstance(part, str) and is_storable(part) for part in key):
        raise _invalid()
    try:
        created_at = datetime.fromisoformat(key[0])
        if created_at.tzinfo is None:
            raise _invalid()
        return created_at.astimezone(UTC), key[1]
    except (ValueError, OverflowError):
        raise _invalid() from None
