"""HMAC-SHA256 signatures of the signed webhooks (CONTRACT §4), shared with `scopelock sign`."""

from __future__ import annotations

import hashlib
import hmac
import re
import time

TOLERANCE_S = 300
_HEX_DIGEST = re.compile(r"^[0-9a-f]{64}$")
_UNIX_SECONDS = re.compile(r"^[0-9]{1,12}$")


class SignatureError(Exception):
    """Why a delivery's signature is refused, in one sentence safe to return."""


def sign(secret: str, body: bytes, timestamp: str | None = None) -> str:
    """Lowercase hex HMAC-SHA256 of `body`, or of `{timestamp}.{body}` when timestamped."""
    message = body if timestamp is None else timestamp.encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


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
        raise SignatureError("The X-Webhook-Signature header is missing.")
    given = signature.strip().lower().removeprefix("sha256=")
    if not _HEX_DIGEST.fullmatch(given):
        raise SignatureError("X-Webhook-Signature must be a hex HMAC-SHA256 digest.")
    if timestamp is not None:
        if not _UNIX_SECONDS.fullmatch(timestamp.strip()):
            raise SignatureError("X-Webhook-Timestamp must be Unix seconds.")
        timestamp = timestamp.strip()
        skew = abs((time.time() if now is None else now) - int(timestamp))
        if skew > TOLERANCE_S:
            raise SignatureError(
                f"X-Webhook-Timestamp is more than {TOLERANCE_S} s away from the server's clock."
            )
    # Compare before deciding anything else from the digest: constant time either way.
    if not hmac.compare_digest(sign(secret, body, timestamp), given):
        raise SignatureError("The signature does not match the body.")
