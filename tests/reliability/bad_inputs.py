# ruff: noqa: E501
"""The catalogue of bad inputs: one named request each, with the refusal it must get.

Bodies are raw bytes (so invalid UTF-8, NaN literals and lone surrogate escapes reach the
server as sent). Paths may name seeded rows as `{sent_lead}`; headers may be a function of the
body, for webhook signatures computed at request time.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.conftest import API_TOKEN
from tests.signed_posts import signed_headers
from web.signatures import sign, sign_standard

WEBHOOK_SECRET = "whsec-catalogue-3c9e1a"
OTHER_SECRET = "whsec-not-ours-77f0b2"
JSON = {"Content-Type": "application/json"}
Headers = dict[str, str] | Callable[[bytes], dict[str, str]]


@dataclass(frozen=True)
class BadInput:
    name: str
    method: str
    path: str
    status: int
    code: str | None
    """The error code; None for the non-error answer (a replayed webhook's 200)."""
    body: bytes | None = None
    headers: Headers = field(default_factory=dict)
    auth: bool = True


def as_json(document: Any) -> bytes:
    return json.dumps(document).encode()


def draft(**fields: Any) -> bytes:
    body = {
        "client": "Acme Corp",
        "job_title": "Build a Telegram bot",
        "message": "Can you start on Monday?",
        "draft_text": "Hi! Yes, Monday works.",
        "confidence": 85,
    }
    body.update(fields)
    return as_json({key: value for key, value in body.items() if value is not ...})


def lead(**fields: Any) -> bytes:
    body = {
        "platform": "upwork",
        "title": "FastAPI backend",
        "budget": "$2,000",
        "decision": "GO",
        "reason": "Clear scope.",
    }
    body.update(fields)
    return as_json({key: value for key, value in body.items() if value is not ...})


def event(name: str = "rafael.note@1.0", payload: Any = None) -> bytes:
    return as_json({"event": name, "payload": {} if payload is None else payload})


def nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = {"down": value}
    return value


def signed(secret: str = WEBHOOK_SECRET, **extra: str) -> Callable[[bytes], dict[str, str]]:
    return lambda body: signed_headers(secret, body, **extra)


def standard(webhook_id: str) -> Callable[[bytes], dict[str, str]]:
    """Standard Webhooks headers under WEBHOOK_SECRET, timestamped at request time."""

    def headers(body: bytes) -> dict[str, str]:
        ts = str(int(time.time()))
        signature = sign_standard(WEBHOOK_SECRET, webhook_id, ts, body)
        return {
            **JSON,
            "webhook-id": webhook_id,
            "webhook-timestamp": ts,
            "webhook-signature": signature,
        }

    return headers


def timestamped(offset_s: int, *, send_timestamp: bool = True) -> Callable[[bytes], dict]:
    def headers(body: bytes) -> dict[str, str]:
        ts = str(int(time.time()) + offset_s)
        result = {**JSON, "X-Webhook-Signature": sign(WEBHOOK_SECRET, body, ts)}
        if send_timestamp:
            result["X-Webhook-Timestamp"] = ts
        return result

    return headers


UPWORK = "/webhook/upwork-response"
TRIGGER = "/webhook/trigger/emma"
REPLY = as_json({"client": "Jane", "message": "Could you add SSO?"})
# Delivered once while seeding (see the test module), so these are replays.
SEEN_REPLY = as_json({"client": "Jane", "message": "Already delivered once."})
SEEN_DELIVERY_ID = "delivery-seen-1"
SEEN_IDEMPOTENCY_KEY = "draft-key-seen-1"

# fmt: off
API_CASES = [
    # --- draft bodies: wrong types, missing and extra fields, bounds ---
    BadInput("draft confidence as a string", "POST", "/api/draft/create", 422, "validation_error", draft(confidence="85"), JSON),
    BadInput("draft confidence as a boolean", "POST", "/api/draft/create", 422, "validation_error", draft(confidence=True), JSON),
    BadInput("draft confidence with a fraction", "POST", "/api/draft/create", 422, "validation_error", draft(confidence=85.5), JSON),
    BadInput("draft confidence negative", "POST", "/api/draft/create", 422, "validation_error", draft(confidence=-1), JSON),
    BadInput("draft confidence huge", "POST", "/api/draft/create", 422, "validation_error", draft(confidence=10**30), JSON),
    BadInput("draft without client", "POST", "/api/draft/create", 422, "validation_error", draft(client=...), JSON),
    BadInput("draft without draft_text", "POST", "/api/draft/create", 422, "validation_error", draft(draft_text=...), JSON),
    BadInput("draft with an extra field", "POST", "/api/draft/create", 422, "validation_error", draft(status="approved"), JSON),
    BadInput("draft client of 201 characters", "POST", "/api/draft/create", 422, "validation_error", draft(client="x" * 201), JSON),
    BadInput("draft job_title of 501 characters", "POST", "/api/draft/create", 422, "validation_error", draft(job_title="x" * 501), JSON),
    BadInput("draft_text only whitespace", "POST", "/api/draft/create", 422, "validation_error", draft(draft_text=" \t\n\u3000"), JSON),
    BadInput("draft message with a NUL byte", "POST", "/api/draft/create", 422, "validation_error", draft(message="a\x00b"), JSON),
    BadInput("draft client with a lone surrogate", "POST", "/api/draft/create", 422, "validation_error", draft(client="\ud800"), JSON),
    BadInput("draft context not an object", "POST", "/api/draft/create", 422, "validation_error", draft(context=[1, 2]), JSON),
    BadInput("draft context nested 40 deep", "POST", "/api/draft/create", 422, "validation_error", draft(context=nested(40)), JSON),
    BadInput("draft context with NaN", "POST", "/api/draft/create", 400, "malformed_json", draft(context={"x": float("nan")}), JSON),
    BadInput("draft citizen path traversal", "POST", "/api/draft/create", 422, "validation_error", draft(citizen="../../etc"), JSON),
    BadInput("draft citizen as HTML", "POST", "/api/draft/create", 422, "validation_error", draft(citizen="<b>rafael</b>"), JSON),
    # --- draft bodies: framing ---
    BadInput("draft as text/plain", "POST", "/api/draft/create", 415, "unsupported_media_type", draft(), {"Content-Type": "text/plain"}),
    BadInput("draft without a content type", "POST", "/api/draft/create", 415, "unsupported_media_type", draft()),
    BadInput("draft form-encoded", "POST", "/api/draft/create", 415, "unsupported_media_type", b"client=Acme&confidence=85", {"Content-Type": "application/x-www-form-urlencoded"}),
    BadInput("draft body invalid UTF-8", "POST", "/api/draft/create", 400, "malformed_json", b'{"client": "\xff\xfe"}', JSON),
    BadInput("draft body truncated JSON", "POST", "/api/draft/create", 400, "malformed_json", draft()[:-5], JSON),
    BadInput("draft body empty", "POST", "/api/draft/create", 400, "malformed_json", b"", JSON),
    BadInput("draft body a JSON array", "POST", "/api/draft/create", 422, "validation_error", b"[1, 2, 3]", JSON),
    BadInput("draft body nested 100000 deep", "POST", "/api/draft/create", 422, "validation_error", b"[" * 100_000 + b"]" * 100_000, JSON),
    BadInput("draft body over 1 MiB", "POST", "/api/draft/create", 413, "payload_too_large", draft(message="x" * (1024 * 1024)), JSON),
    BadInput("draft idempotency key reused with another body", "POST", "/api/draft/create", 422, "idempotency_key_reused", draft(client="Someone else"), {**JSON, "Idempotency-Key": SEEN_IDEMPOTENCY_KEY}),
    BadInput("draft idempotency key blank", "POST", "/api/draft/create", 422, "validation_error", draft(), {**JSON, "Idempotency-Key": "   "}),
    BadInput("draft idempotency key of 256 characters", "POST", "/api/draft/create", 422, "validation_error", draft(), {**JSON, "Idempotency-Key": "k" * 256}),
    # --- events ---
    BadInput("event name in capitals", "POST", "/api/event/log", 422, "validation_error", event("Draft.Created@1.0"), JSON),
    BadInput("event name without a version", "POST", "/api/event/log", 422, "validation_error", event("draft.created"), JSON),
    BadInput("event name of 51 characters", "POST", "/api/event/log", 422, "validation_error", event("a" * 45 + "@10.00"), JSON),
    BadInput("event name with SQL", "POST", "/api/event/log", 422, "validation_error", event("x@1.0'; DROP TABLE events; --"), JSON),
    BadInput("event name with HTML", "POST", "/api/event/log", 422, "validation_error", event("<script>alert(1)</script>@1.0"), JSON),
    BadInput("event in the service's draft. namespace", "POST", "/api/event/log", 422, "reserved_event_name", event("draft.approved@1.0"), JSON),
    BadInput("event in the service's budget. namespace", "POST", "/api/event/log", 422, "reserved_event_name", event("budget.exceeded@1.0"), JSON),
    BadInput("event in the service's system. namespace", "POST", "/api/event/log", 422, "reserved_event_name", event("system.anything@2.0"), JSON),
    BadInput("event payload a string", "POST", "/api/event/log", 422, "validation_error", event(payload="hello"), JSON),
    BadInput("event without payload", "POST", "/api/event/log", 422, "validation_error", as_json({"event": "a.b@1.0"}), JSON),
    BadInput("event payload with Infinity", "POST", "/api/event/log", 422, "validation_error", b'{"event": "a.b@1.0", "payload": {"x": 1e999}}', JSON),
    BadInput("event payload key with NUL", "POST", "/api/event/log", 422, "validation_error", event(payload={"a\x00": 1}), JSON),
    BadInput("event payload lone surrogate", "POST", "/api/event/log", 422, "validation_error", b'{"event": "a.b@1.0", "payload": {"x": "\\udc00"}}', JSON),
    # --- leads ---
    BadInput("lead decision in lower case", "POST", "/api/leads", 422, "validation_error", lead(decision="go"), JSON),
    BadInput("lead urgency 11", "POST", "/api/leads", 422, "validation_error", lead(urgency=11), JSON),
    BadInput("lead pain 0", "POST", "/api/leads", 422, "validation_error", lead(pain=0), JSON),
    BadInput("lead budget as a number", "POST", "/api/leads", 422, "validation_error", lead(budget=2000), JSON),
    BadInput("lead platform of 51 characters", "POST", "/api/leads", 422, "validation_error", lead(platform="p" * 51), JSON),
    BadInput("lead unsent after being sent", "PATCH", "/api/lead/{sent_lead}", 409, "illegal_transition", as_json({"sent": False}), JSON),
    BadInput("lead sent as a string", "PATCH", "/api/lead/{sent_lead}", 422, "validation_error", as_json({"sent": "true"}), JSON),
    BadInput("lead patch with an extra field", "PATCH", "/api/lead/{sent_lead}", 422, "validation_error", as_json({"sent": True, "decision": "NO-GO"}), JSON),
    BadInput("lead patch of an unknown lead", "PATCH", "/api/lead/987654321", 404, "lead_not_found", as_json({"sent": True}), JSON),
    # --- queries: limits, cursors, filters ---
    BadInput("events limit 0", "GET", "/api/events?limit=0", 400, "invalid_query"),
    BadInput("events limit negative", "GET", "/api/events?limit=-1", 400, "invalid_query"),
    BadInput("events limit huge", "GET", "/api/events?limit=" + "9" * 30, 400, "invalid_query"),
    BadInput("events limit not a number", "GET", "/api/events?limit=ten", 400, "invalid_query"),
    BadInput("events limit repeated", "GET", "/api/events?limit=1&limit=2", 400, "invalid_query"),
    BadInput("events unknown parameter", "GET", "/api/events?order=asc", 400, "invalid_query"),
    BadInput("events since not a date", "GET", "/api/events?since=yesterday", 400, "invalid_query"),
    BadInput("events since a bare number", "GET", "/api/events?since=0.5", 400, "invalid_query"),
    BadInput("events until beyond year 9999", "GET", "/api/events?until=9999-12-31T23:59:59-14:00", 400, "invalid_query"),
    BadInput("events filter with SQL", "GET", "/api/events?event=draft.%2A%27%20OR%201%3D1%20--", 400, "invalid_query"),
    BadInput("events cursor garbage", "GET", "/api/events?cursor=%21%21%21", 400, "invalid_cursor"),
    BadInput("events cursor of the leads listing", "GET", "/api/events?cursor={leads_cursor}", 400, "invalid_cursor"),
    BadInput("events cursor with a 2**64 id", "GET", "/api/events?cursor={huge_id_cursor}", 400, "invalid_cursor"),
    BadInput("events cursor with a negative id", "GET", "/api/events?cursor={negative_id_cursor}", 400, "invalid_cursor"),
    BadInput("drafts status unknown", "GET", "/api/drafts?status=archived", 400, "invalid_query"),
    BadInput("drafts status with SQL", "GET", "/api/drafts?status=pending%27%20OR%20%271%27%3D%271", 400, "invalid_query"),
    BadInput("drafts limit 201", "GET", "/api/drafts?limit=201", 400, "invalid_query"),
    BadInput("drafts cursor dated before year 1 in UTC", "GET", "/api/drafts?cursor={early_time_cursor}", 400, "invalid_cursor"),
    BadInput("leads platform with NUL", "GET", "/api/leads?platform=a%00b", 400, "invalid_query"),
    BadInput("leads sent not a boolean", "GET", "/api/leads?sent=maybe", 400, "invalid_query"),
    BadInput("sessions citizen with NUL", "GET", "/api/sessions?citizen=%00", 400, "invalid_query"),
    BadInput("sessions status unknown", "GET", "/api/sessions?status=paused", 400, "invalid_query"),
    # --- ids ---
    BadInput("draft unknown id", "GET", f"/api/draft/{uuid.UUID(int=7)}", 404, "draft_not_found"),
    BadInput("draft id with NUL", "GET", "/api/draft/%00", 404, "draft_not_found"),
    BadInput("draft id with SQL", "GET", "/api/draft/%27%20OR%20%271%27%3D%271", 404, "draft_not_found"),
    BadInput("lead unknown id", "GET", "/api/lead/987654321", 404, "lead_not_found"),
    BadInput("lead id negative", "GET", "/api/lead/-1", 404, "lead_not_found"),
    BadInput("lead id beyond BIGINT", "GET", "/api/lead/" + "9" * 25, 404, "lead_not_found"),
    BadInput("lead id not a number", "GET", "/api/lead/abc", 404, "lead_not_found"),
    BadInput("session unknown id", "GET", f"/api/session/{uuid.UUID(int=8)}", 404, "session_not_found"),
    BadInput("session id with NUL", "GET", "/api/session/a%00", 404, "session_not_found"),
    # --- auth and routing ---
    BadInput("api without a token", "POST", "/api/draft/create", 401, "unauthorized", draft(), JSON, auth=False),
    BadInput("api with a wrong token", "POST", "/api/event/log", 401, "unauthorized", event(), {**JSON, "Authorization": "Bearer wrong"}, auth=False),
    BadInput("api token with the Basic scheme", "GET", "/api/drafts", 401, "unauthorized", None, {"Authorization": f"Basic {API_TOKEN}"}, auth=False),
    BadInput("api token in the query string", "GET", f"/api/drafts?token={API_TOKEN}", 401, "unauthorized", auth=False),
    BadInput("unknown api path", "GET", "/api/nothing-here", 404, "not_found"),
    BadInput("wrong method", "DELETE", "/api/drafts", 405, "method_not_allowed"),
]

WEBHOOK_CASES = [
    BadInput("webhook without a signature", "POST", UPWORK, 401, "invalid_signature", REPLY, JSON),
    BadInput("webhook signed with another secret", "POST", UPWORK, 401, "invalid_signature", REPLY, signed(OTHER_SECRET)),
    BadInput("webhook signature not hex", "POST", UPWORK, 401, "invalid_signature", REPLY, {**JSON, "X-Webhook-Signature": "z" * 64}),
    BadInput("webhook signature of another body", "POST", UPWORK, 401, "invalid_signature", REPLY, {**JSON, "X-Webhook-Signature": sign(WEBHOOK_SECRET, SEEN_REPLY)}),
    BadInput("webhook timestamp expired", "POST", UPWORK, 401, "invalid_signature", REPLY, timestamped(-301)),
    BadInput("webhook timestamp in the future", "POST", TRIGGER, 401, "invalid_signature", as_json({"message": "go"}), timestamped(301)),
    BadInput("webhook timestamp not Unix seconds", "POST", UPWORK, 401, "invalid_signature", REPLY, signed(**{"X-Webhook-Timestamp": "yesterday"})),
    BadInput("webhook timestamped signature without its timestamp", "POST", UPWORK, 401, "invalid_signature", REPLY, timestamped(0, send_timestamp=False)),
    BadInput("webhook replayed signed delivery id", "POST", UPWORK, 200, None, REPLY, standard(SEEN_DELIVERY_ID)),
    BadInput("webhook replayed body with a fresh unsigned id", "POST", UPWORK, 200, None, SEEN_REPLY, signed(**{"X-Webhook-Id": f"fresh-{uuid.uuid4()}"})),
    BadInput("webhook replayed body without an id", "POST", UPWORK, 200, None, SEEN_REPLY, signed()),
    BadInput("webhook unknown citizen", "POST", "/webhook/trigger/nobody", 404, "citizen_not_found", as_json({"message": "go"}), signed()),
    BadInput("webhook citizen path traversal", "POST", "/webhook/trigger/..%2F..%2Fetc", 404, "citizen_not_found", as_json({"message": "go"}), signed()),
    BadInput("webhook signed malformed JSON", "POST", UPWORK, 400, "malformed_json", b'{"client": "Jane",', signed()),
    BadInput("webhook signed invalid UTF-8", "POST", UPWORK, 400, "malformed_json", b'{"client": "\xff", "message": "x"}', signed()),
    BadInput("webhook client as a number", "POST", UPWORK, 422, "validation_error", as_json({"client": 5, "message": "hi"}), signed()),
    BadInput("webhook without message", "POST", TRIGGER, 422, "validation_error", as_json({"text": "go"}), signed()),
    BadInput("webhook message with NUL", "POST", TRIGGER, 422, "validation_error", as_json({"message": "go\x00"}), signed()),
    BadInput("webhook message of 30001 characters", "POST", TRIGGER, 422, "validation_error", as_json({"message": "m" * 30_001}), signed()),
    BadInput("webhook signed as text/plain", "POST", UPWORK, 415, "unsupported_media_type", REPLY, lambda body: {"Content-Type": "text/plain", "X-Webhook-Signature": sign(WEBHOOK_SECRET, body)}),
    BadInput("webhook body over 1 MiB", "POST", UPWORK, 413, "payload_too_large", as_json({"client": "J", "message": "m" * (1024 * 1024)}), signed()),
    BadInput("webhook blank delivery id", "POST", UPWORK, 422, "validation_error", REPLY, signed(**{"X-Webhook-Id": "  "})),
]
# fmt: on

CASES = API_CASES + WEBHOOK_CASES
