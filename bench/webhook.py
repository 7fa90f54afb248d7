"""Signed Upwork replies for `POST /webhook/upwork-response`: every request a distinct body
(so none is a duplicate), signed beforehand as `scopelock sign` signs (HMAC-SHA256 of the body,
`X-Webhook-Signature`); wrk sends them in turn."""

from __future__ import annotations

import json
import random
import secrets
import uuid

from web.signatures import sign

PATH = "/webhook/upwork-response"
THREAD_KEYS = 1000
"""Replies go to this many conversations (the sender's `thread` key): most join a thread."""
REQUESTS_PER_SECOND = 2500
"""Signed requests prepared per second of load: more than either side can take."""


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def signed_requests(secret: str, seconds: int) -> str:
    """Lines `path TAB signature TAB body` for `seconds` of load, each body new (a nonce in
    its message)."""
    rng = random.Random()
    lines = []
    for _ in range(seconds * REQUESTS_PER_SECOND):
        key = rng.randrange(THREAD_KEYS)
        body = json.dumps(
            {
                "client": f"Webhook Client {key}",
                "job_title": "Telegram approval bot",
                "job_link": f"https://www.upwork.com/jobs/~hook{key}",
                "thread": f"bench-gmail-{key}",
                "message": f"Could you start on Monday? The budget is fixed. ({uuid.uuid4()})",
            },
            separators=(",", ":"),
        ).encode()
        lines.append(f"{PATH}\t{sign(secret, body)}\t{body.decode()}")
    return "\n".join(lines) + "\n"
