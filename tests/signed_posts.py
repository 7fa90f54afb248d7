"""Signed deliveries to the service's webhooks (CONTRACT §4), as Zapier or a script sends
them: JSON bytes with `X-Webhook-Signature` (and `X-Webhook-Timestamp` when timestamped)."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from web.signatures import sign


def signed_headers(
    secret: str, body: bytes, *, timestamp: int | str | None = None, **headers: str
) -> dict[str, str]:
    """The headers of `body` signed with `secret`; `headers` are added (or replace them)."""
    stamp = None if timestamp is None else str(timestamp)
    found = {"Content-Type": "application/json", "X-Webhook-Signature": sign(secret, body, stamp)}
    if stamp is not None:
        found["X-Webhook-Timestamp"] = stamp
    return found | headers


def signed_json(
    secret: str, document: dict[str, Any], **headers: str
) -> tuple[bytes, dict[str, str]]:
    """`document` as the bytes sent, and their signed headers."""
    body = json.dumps(document).encode()
    return body, signed_headers(secret, body, **headers)


async def post_signed(
    http: aiohttp.ClientSession, url: str, secret: str, document: dict[str, Any]
) -> dict[str, Any]:
    """POST `document` signed to `url`; the service must accept it (202): its answer."""
    body, headers = signed_json(secret, document)
    async with http.post(url, data=body, headers=headers) as response:
        assert response.status == 202, await response.text()
        return dict(await response.json())
