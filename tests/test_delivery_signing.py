"""The pieces of a delivery that need no service: signature, Retry-After, waits, card lines."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from standardwebhooks import Webhook

from bot.delivery.card import delivery_status_line
from bot.delivery.signing import retry_after_s, signed_headers
from bot.delivery.tuning import DeliveryTuning
from bot.settings import SettingsError, load_settings
from storage.models import Delivery

# The Standard Webhooks specification's published example.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = '{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
NOW = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)


def test_the_signature_matches_the_specification_example() -> None:
    key = load_settings(
        delivery_webhook_url="http://127.0.0.1:9/hook", delivery_webhook_secret=SPEC_SECRET
    ).delivery_key
    assert key == base64.b64decode(SPEC_SECRET.removeprefix("whsec_"))
    moment = datetime.fromtimestamp(SPEC_TIMESTAMP, UTC)
    headers = signed_headers(key, SPEC_ID, SPEC_BODY, moment)
    assert headers["webhook-id"] == SPEC_ID
    assert headers["webhook-timestamp"] == str(SPEC_TIMESTAMP)
    assert headers["webhook-signature"] == SPEC_SIGNATURE


def test_a_fresh_signature_verifies_with_the_library_and_breaks_with_the_body() -> None:
    key = b"another key"
    body = '{"type": "draft.approved", "text": "Grüße 🎉"}'
    headers = signed_headers(key, "msg_1", body, datetime.now(UTC))
    assert Webhook(key).verify(body.encode(), headers) == {
        "type": "draft.approved",
        "text": "Grüße 🎉",
    }
    with pytest.raises(Exception, match="signature"):
        Webhook(key).verify(body.replace("🎉", "!").encode(), headers)


def test_a_delivery_url_needs_its_secret() -> None:
    with pytest.raises(SettingsError, match="DELIVERY_WEBHOOK_SECRET"):
        load_settings(delivery_webhook_url="https://example.com/hook")


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("Tue, 01 Dec 2026 12:00:30 GMT", 30.0),
        ("Tue, 01 Dec 2026 11:00:00 GMT", 0.0),  # a date already past: no wait
        (None, None),
        ("", None),
        ("soon", None),
        ("-5", None),
        ("1.5", None),
    ],
)
def test_retry_after_reads_seconds_and_http_dates(
    value: str | None, seconds: float | None
) -> None:
    assert retry_after_s(value, NOW) == seconds


def test_the_waits_grow_and_the_last_one_repeats() -> None:
    tuning = DeliveryTuning()
    assert [tuning.wait_after(n) for n in range(1, 9)] == [
        5, 300, 1800, 7200, 18000, 36000, 36000, 36000,
    ]  # fmt: skip
    assert tuning.give_up_after_s == 24 * 3600


def delivery(**fields: Any) -> Delivery:
    values: dict[str, Any] = {
        "draft_id": "d",
        "webhook_id": "msg_x",
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": NOW,
        "created_at": NOW,
    }
    return Delivery(**(values | fields))


def test_the_card_line_says_what_is_happening() -> None:
    assert delivery_status_line(delivery()) == "📤 <b>Delivering…</b>"
    retrying = delivery(
        attempts=2,
        last_status=503,
        last_error="HTTP 503 <Service Unavailable>",
        next_attempt_at=NOW + timedelta(minutes=5),
    )
    assert delivery_status_line(retrying) == (
        "⚠️ <b>Delivery failed</b>: HTTP 503 &lt;Service Unavailable&gt; — retrying at "
        "2026-12-01 12:05 UTC"
    )
    done = delivery(status="succeeded", attempts=1, finished_at=NOW)
    assert delivery_status_line(done) == "✅ <b>Delivered</b> 2026-12-01 12:00 UTC"
    gone = delivery(status="failed", attempts=1, last_status=410, last_error="HTTP 410 Gone")
    assert delivery_status_line(gone) == "❌ <b>Not delivered</b>: HTTP 410 Gone"
