"""Signatures of the signed webhooks (CONTRACT §4), shared with `scopelock sign` / `trigger`.

Two schemes are accepted:
- ours: `X-Webhook-Signature` = hex HMAC-SHA256 of the body, or of `{timestamp}.{body}` when
  `X-Webhook-Timestamp` is sent;
- Standard Webhooks: `webhook-id`, `webhook-timestamp` and `webhook-signature: v1,<base64>`
  (several, space-separated) over `{id}.{timestamp}.{body}`, keyed by WEBHOOK_SECRET's bytes.

`verify_request` answers what the signature covers, which is what makes a delivery "the same".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass

TOLERANCE_S = 300
MAX_ID_CHARS = 255
_HEX_DIGEST = re.compile(r"^[0-9a-f]{64}$")
_UNIX_SECONDS = re.compile(r"^[0-9]{1,12}$")
STANDARD_ID = "webhook-id"
STANDARD_TIMESTAMP = "webhook-timestamp"
STANDARD_SIGNATURE = "webhook-signature"
SIGNATURE = "X-Webhook-Signature"
TIMESTAMP = "X-Webhook-Timestamp"


class SignatureError(Exception):
    """Why a delivery's signature is refused, in one sentence safe to return."""


@dataclass(frozen=True)
class Signed:
    """What a valid signature covers: the delivery's identity, for duplicate detection."""

    signed_id: str | None
    """The Standard Webhooks `webhook-id` (the signature covers it); None in our scheme."""
    signed_bytes: bytes
    """Exactly the bytes the HMAC covers (timestamp and body, and the id when there is one)."""
    timestamped: bool = True
    """Did it cover a timestamp (refused once stale)? Without one it never goes stale."""


def sign(secret: str, body: bytes, timestamp: str | None = None) -> str:
    """Lowercase hex HMAC-SHA256 of `body`, or of `{timestamp}.{body}` when timestamped."""
    return hmac.new(secret.encode(), _ours(body, timestamp), hashlib.sha256).hexdigest()


def sign_standard(secret: str, webhook_id: str, timestamp: str, body: bytes) -> str:
    """The Standard Webhooks `webhook-signature` value: `v1,<base64 HMAC-SHA256>`."""
    digest = hmac.new(secret.encode(), _standard(webhook_id, timestamp, body), hashlib.sha256)
    return "v1," + base64.b64encode(digest.digest()).decode()


def verify_request(
    secret: str, body: bytes, headers: Mapping[str, str], *, now: float | None = None
) -> Signed:
    """Verify a delivery by whichever scheme its headers use (Standard Webhooks first)."""
    if STANDARD_SIGNATURE in headers:
        return verify_standard(
            secret,
            body,
            headers.get(STANDARD_ID),
            headers.get(STANDARD_TIMESTAMP),
            headers[STANDARD_SIGNATURE],
            now=now,
        )
    timestamp = headers.get(TIMESTAMP)
    verify(secret, body, headers.get(SIGNATURE), timestamp, now=now)
    stamp = None if timestamp is None else timestamp.strip()
    return Signed(None, _ours(body, stamp), timestamped=stamp is not None)


def verify(
    secret: str,
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    *,
    now: float | None = None,
) -> None:
    """Raise SignatureError unless `signature` signs `body` (and `timestamp`, if given)."""
    if not signature:
        raise SignatureError(f"The {SIGNATURE} header is missing.")
    given = signature.strip().lower().removeprefix("sha256=")
    if not _HEX_DIGEST.fullmatch(given):
        raise SignatureError(f"{SIGNATURE} must be a hex HMAC-SHA256 digest.")
    if timestamp is not None:
        timestamp = _fresh(timestamp, TIMESTAMP, now)
    # Compare before deciding anything else from the digest: constant time either way.
    if not hmac.compare_digest(sign(secret, body, timestamp), given):
        raise SignatureError("The signature does not match the body.")


def verify_standard(
    secret: str,
    body: bytes,
    webhook_id: str | None,
    timestamp: str | None,
    signatures: str,
    *,
    now: float | None = None,
) -> Signed:
    """Raise SignatureError unless one of the `v1,` signatures signs `{id}.{timestamp}.{body}`."""
    if not webhook_id or len(webhook_id) > MAX_ID_CHARS or not webhook_id.isprintable():
        raise SignatureError(f"{STANDARD_ID} must be 1-{MAX_ID_CHARS} printable characters.")
    if timestamp is None:
        raise SignatureError(f"The {STANDARD_TIMESTAMP} header is missing.")
    timestamp = _fresh(timestamp, STANDARD_TIMESTAMP, now)
    expected = sign_standard(secret, webhook_id, timestamp, body).encode()
    matched = False
    for candidate in signatures.split():
        # Every candidate is compared (no early exit), each in constant time; other versions
        # (`v1a,` for asymmetric keys) never match.
        matched |= hmac.compare_digest(candidate.encode(errors="replace"), expected)
    if not matched:
        raise SignatureError(f"No {STANDARD_SIGNATURE} matches the id, timestamp and body.")
    return Signed(webhook_id, _standard(webhook_id, timestamp, body))


def _fresh(timestamp: str, header: str, now: float | None) -> str:
    timestamp = timestamp.strip()
    if not _UNIX_SECONDS.fullmatch(timestamp):
        raise SignatureError(f"{header} must be Unix seconds.")
    skew = abs((time.time() if now is None else now) - int(timestamp))
    if skew > TOLERANCE_S:
        raise SignatureError(
            f"{header} is more than {TOLERANCE_S} s away from the server's clock."
        )
    return timestamp


def _ours(body: bytes, timestamp: str | None) -> bytes:
    return body if timestamp is None else timestamp.encode() + b"." + body


def _standard(webhook_id: str, timestamp: str, body: bytes) -> bytes:
    return f"{webhook_id}.{timestamp}.".encode() + body
