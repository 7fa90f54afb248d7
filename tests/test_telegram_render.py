"""Draft cards: outside text escaped, always within Telegram's 4096 limit, footers included."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.telegram import callbacks, cards, render
from storage.models import Draft
from tests.bot_api_rules import MAX_CALLBACK_DATA_BYTES, check_message_text, parse_html
from tests.conftest import settings_for

SETTINGS = settings_for("sqlite+aiosqlite:///:memory:", Path("citizens"))
NASTY = "<b>&_*[`]( 🎉 &amp; </i> <script>alert(1)</script> \\ ' \""


def draft(**fields: object) -> Draft:
    values: dict[str, object] = {
        "id": "8a4c2b1e-3f5d-4e6a-9b7c-0d1e2f3a4b5c",
        "client": NASTY,
        "job_title": NASTY,
        "message": NASTY,
        "draft_text": NASTY,
        "confidence": 42,
        "context": {"job_link": "https://example.com/job?a=1&b=<2>"},
        "citizen": "rafael",
    }
    return Draft(**(values | fields))


def card(subject: Draft) -> str:
    """The card the service sends for `subject` in its state."""
    return cards.text(subject, cards.Facts(), SETTINGS)


def test_outside_text_is_shown_exactly_as_written() -> None:
    shown = check_message_text(card(draft()), "HTML")
    assert shown.count(NASTY) == 4
    assert "https://example.com/job?a=1&b=<2>" in shown
    assert "42%" in shown


@pytest.mark.parametrize(
    "fields",
    [
        {"draft_text": "x" * 10_000},
        {"draft_text": "🎉" * 10_000},
        {"draft_text": "&<>" * 4000},
        {"message": "<" * 20_000, "draft_text": "y " * 5000},
        {"client": "&" * 200, "job_title": "<" * 500, "draft_text": "z" * 3900},
    ],
    ids=["ascii", "emoji", "escapes", "long-message", "long-fields"],
)
def test_a_card_always_fits_even_with_its_decision_footer(fields: dict[str, str]) -> None:
    subject = draft(**fields)
    decided = draft(
        **fields,
        status="approved",
        decided_by=123456789,
        decided_at=datetime(2026, 11, 25, 14, 23, tzinfo=UTC),
    )
    for shown_card in (card(subject), card(decided)):
        shown = check_message_text(shown_card, "HTML")  # raises what Telegram would refuse
        assert f"/draft {subject.id[:8]}" in shown
        assert subject.draft_text[:500] in shown
    assert "✅ Approved by user 123456789 · 2026-11-25 14:23 UTC" in parse_html(card(decided))


def test_a_card_that_fits_is_not_shortened() -> None:
    shown = parse_html(card(draft(draft_text="short and sweet")))
    assert "short and sweet" in shown
    assert "Shortened" not in shown


def test_cut_never_splits_a_character_and_prefers_a_space() -> None:
    assert render.cut("🎉" * 10, 7) == "🎉🎉🎉…"
    assert render.cut("hello wonderful world", 18) == "hello wonderful…"
    assert render.cut("fits", 4) == "fits"


def test_callback_data_is_within_telegrams_64_bytes_and_parses_back() -> None:
    draft_id = draft().id
    for action in callbacks.Action:
        data = callbacks.build(action, draft_id)
        assert len(data.encode()) <= MAX_CALLBACK_DATA_BYTES
        assert callbacks.parse(data) == callbacks.Callback(action, draft_id)
    keyboard = callbacks.draft_keyboard(draft_id)["inline_keyboard"]
    assert [b["callback_data"] for row in keyboard for b in row] == [
        f"approve:{draft_id}",
        f"edit:{draft_id}",
        f"redraft:{draft_id}",
        f"reject:{draft_id}",
    ]
    reasons = callbacks.reason_markup(draft_id).to_dict()["inline_keyboard"]
    for n, button in enumerate(b for row in reasons for b in row):
        assert len(button["callback_data"].encode()) <= MAX_CALLBACK_DATA_BYTES
        parsed = callbacks.parse(button["callback_data"])
        assert parsed is not None and parsed.action == callbacks.Action.WHY
        assert callbacks.parse_reason(parsed.value) == (draft_id, callbacks.REJECT_REASONS[n])
    assert callbacks.parse_reason(f"{draft_id}:9") is None
    for junk in (None, "", "approve", "approve:", "nuke:1", ":x"):
        assert callbacks.parse(junk) is None
