"""Schemathesis hooks for the fuzzing run (loaded through `SCHEMATHESIS_HOOKS`).

Some refusals of schema-valid requests are the contract, not a bug: a cursor no listing issued
(cursors are opaque) is refused with 400 `invalid_cursor`; an `Idempotency-Key` replayed with
another body with 422 `idempotency_key_reused`; and a field whose validity a schema cannot
state — a draft's `thread_id` / `lead_id` naming no stored thread or lead, a schedule's
`citizen` that is not a citizen or `cron` that is no cron expression — with 422 naming that
field. Every other positive case must still be accepted, exactly as Schemathesis's own
`positive_data_acceptance` demands.

Signed webhooks are fuzzed past their signature: wherever Schemathesis generates an
`X-Webhook-Signature`, `before_call` replaces it with the real HMAC of the exact bytes sent
(requests without the header stay unsigned and are refused). Because every generated signature
is made valid, Schemathesis's `ignored_auth` check is off for the webhooks
(schemathesis.toml); the bad-input catalogue covers their missing, wrong, expired and replayed
signatures instead.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import schemathesis
from schemathesis import Case, CheckContext, Response
from schemathesis.checks import load_all_checks
from schemathesis.core import NotSet

from web.signatures import sign

load_all_checks()
_builtin_acceptance = schemathesis.checks.positive_data_acceptance  # type: ignore[attr-defined]


# (method, path) -> the fields whose refusal no schema can foresee.
BEYOND_THE_SCHEMA = {
    ("POST", "/api/draft/create"): {"thread_id", "lead_id"},
    ("POST", "/api/schedules"): {"citizen", "cron"},
}


def _error_code(response: Response) -> str | None:
    try:
        return json.loads(response.content)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


def _refused_field(response: Response) -> str | None:
    try:
        return json.loads(response.content)["error"]["details"][0]["field"]
    except (ValueError, KeyError, TypeError, IndexError):
        return None


@schemathesis.check
def positive_data_accepted_unless_contract_refuses(
    ctx: CheckContext, response: Response, case: Case
) -> bool | None:
    code = _error_code(response)
    foreign_cursor = (
        response.status_code == 400 and code == "invalid_cursor" and "cursor" in (case.query or {})
    )
    reused_key = (
        response.status_code == 422
        and code == "idempotency_key_reused"
        and "Idempotency-Key" in (case.headers or {})
    )
    beyond_schema = (
        response.status_code == 422
        and code == "validation_error"
        and _refused_field(response) in BEYOND_THE_SCHEMA.get((case.method, case.path), ())
    )
    if foreign_cursor or reused_key or beyond_schema:
        return None
    return _builtin_acceptance(ctx, response, case)


def _holds_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(key) or _holds_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False


@schemathesis.hook
def filter_body(ctx: schemathesis.HookContext, body: object) -> bool:
    """Skip free-form objects (`payload`, `context`) holding a NUL anywhere inside.

    JSON Schema cannot say "no NUL in any nested string" of a free-form object, so the document
    says it in words; the bad-input catalogue covers those bodies instead.
    """
    if not isinstance(body, dict):
        return True
    return not any(_holds_nul(body.get(name)) for name in ("payload", "context"))


SECRET_VARIABLE = "FUZZ_WEBHOOK_SECRET"


@schemathesis.hook
def before_call(ctx: schemathesis.HookContext, case: Case, kwargs: dict[str, Any]) -> None:
    headers = case.headers or {}
    if (
        not case.path.startswith("/webhook/")
        or "X-Webhook-Signature" not in headers
        or case.media_type != "application/json"
    ):
        return
    if isinstance(case.body, NotSet):
        raw = b""
    elif isinstance(case.body, bytes):
        raw = case.body
    else:
        raw = json.dumps(case.body).encode()
    kwargs["data"] = raw  # sent as is, so the signature covers exactly these bytes
    timestamp = headers.get("X-Webhook-Timestamp")
    if timestamp is not None and timestamp.isdigit():
        timestamp = str(int(time.time()))  # a valid clock; malformed ones stay as generated
        headers["X-Webhook-Timestamp"] = timestamp
    elif timestamp is not None:
        timestamp = None  # signed over the body alone: the server refuses the header itself
    headers["X-Webhook-Signature"] = sign(os.environ[SECRET_VARIABLE], raw, timestamp)
    case.headers = headers
