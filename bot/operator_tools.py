"""`scopelock sign` and `scopelock trigger`: the operator's tools for the signed webhooks."""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable

from bot.settings import Settings
from web.signatures import sign, sign_standard

TRIGGER_TIMEOUT_S = 15


def add_commands(sub: argparse._SubParsersAction) -> None:
    signer = sub.add_parser(
        "sign",
        help="print the HMAC-SHA256 signature of stdin under WEBHOOK_SECRET",
        description="Print the X-Webhook-Signature of the exact bytes read from stdin "
        "(mind a trailing newline: send the body with curl --data-binary @file).",
    )
    signer.add_argument(
        "--timestamp",
        nargs="?",
        const="now",
        metavar="UNIX",
        help="sign '{timestamp}.{body}' (default: now) and print both headers",
    )
    signer.add_argument(
        "--id",
        dest="webhook_id",
        metavar="ID",
        help="print Standard Webhooks headers instead (webhook-id ID, webhook-timestamp, "
        "webhook-signature over '{id}.{timestamp}.{body}'); --timestamp sets the time",
    )
    trigger = sub.add_parser(
        "trigger",
        help="queue a citizen session through the running service",
        description="POST a signed /webhook/trigger/CITIZEN to BACKEND_API_URL. "
        "Put -- before a message that starts with a dash.",
    )
    trigger.add_argument("citizen")
    trigger.add_argument("message", nargs="+", help="the task (words are joined by spaces)")


def sign_command(settings: Settings, args: argparse.Namespace) -> int:
    secret = _secret(settings, "sign")
    if secret is None:
        return 2
    body = sys.stdin.buffer.read()
    if args.timestamp is None and args.webhook_id is None:
        print(sign(secret, body))
        return 0
    timestamp = args.timestamp or "now"
    timestamp = str(int(time.time())) if timestamp == "now" else timestamp
    if not timestamp.isdigit():
        print("scopelock sign: --timestamp takes Unix seconds", file=sys.stderr)
        return 2
    if args.webhook_id is not None:
        print(f"webhook-id: {args.webhook_id}")
        print(f"webhook-timestamp: {timestamp}")
        print(f"webhook-signature: {sign_standard(secret, args.webhook_id, timestamp, body)}")
        return 0
    print(f"X-Webhook-Timestamp: {timestamp}")
    print(f"X-Webhook-Signature: {sign(secret, body, timestamp)}")
    return 0


def trigger_command(settings: Settings, args: argparse.Namespace) -> int:
    secret = _secret(settings, "trigger")
    if secret is None:
        return 2
    body = json.dumps({"message": " ".join(args.message)}).encode()
    timestamp = str(int(time.time()))
    # Each command is its own delivery, even with the same words in the same second: the id
    # is signed (Standard Webhooks), so the service tells deliveries apart by it.
    webhook_id = f"cli-{uuid.uuid4()}"
    url = f"{settings.api_url_for_citizens}/webhook/trigger/{urllib.parse.quote(args.citizen)}"
    request = urllib.request.Request(  # noqa: S310 (the operator's own service URL)
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "webhook-id": webhook_id,
            "webhook-timestamp": timestamp,
            "webhook-signature": sign_standard(secret, webhook_id, timestamp, body),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=TRIGGER_TIMEOUT_S) as response:  # noqa: S310
            answer = json.loads(response.read())
    except urllib.error.HTTPError as error:
        print(f"scopelock trigger: {error.code} {_error_message(error.read())}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        reason = getattr(error, "reason", error)
        print(
            f"scopelock trigger: the service at {settings.api_url_for_citizens} did not answer "
            f"({reason}); is it running? (BACKEND_API_URL)",
            file=sys.stderr,
        )
        return 1
    print(f"queued session {answer['session_id']} of {args.citizen}")
    return 0


def _secret(settings: Settings, command: str) -> str | None:
    if settings.webhook_secret is None:
        print(f"scopelock {command}: WEBHOOK_SECRET is not set", file=sys.stderr)
        return None
    return settings.webhook_secret.get_secret_value()


def _error_message(raw: bytes) -> str:
    try:
        return str(json.loads(raw)["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return raw.decode("utf-8", "replace")[:200]


COMMANDS: dict[str, Callable[[Settings, argparse.Namespace], int]] = {
    "sign": sign_command,
    "trigger": trigger_command,
}
