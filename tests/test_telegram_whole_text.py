"""Long texts offered whole (§14): blocks cut between paragraphs, sentences or words, joined
exactly; and every card fits in Telegram's 4,096 characters whatever its outside fields hold."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from telegram import User

from bot.day.loop import reminder_text
from bot.delivery.card import delivery_status_line
from bot.settings import Settings
from bot.telegram import cards, commands, lead_cards, render, whole_text
from citizens.notices import failure_text, notice_text
from storage.models import CitizenSession, Delivery, Draft, DraftFeedback, Lead
from storage.repo.reminders import Due
from tests.bot_api_rules import MAX_TEXT_UTF16, check_message_text, utf16_length

SLOW_OK = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
PRE = re.compile(r"<pre>(.*?)</pre>", re.S)
PARAGRAPH = (
    "Thanks for the detailed brief. I have built three Telegram bots with payments, and I can "
    "start on Monday! Would a fixed price work for you? "
)


def blocks_of(messages: list[str]) -> list[str]:
    """The text of every `<pre>` block, as Telegram shows it (and one tap copies it)."""
    return [html.unescape(block) for text in messages for block in PRE.findall(text)]


def test_a_long_reply_is_cut_between_paragraphs_and_joins_back_exactly() -> None:
    text = "\n\n".join(f"Paragraph {n}. " + PARAGRAPH * 6 for n in range(8))
    parts = whole_text.pieces(text)
    assert len(parts) > 1 and "".join(parts) == text
    for part in parts[:-1]:
        assert part.endswith("\n\n") and utf16_length(part) <= whole_text.BLOCK_UTF16
    assert all(part.startswith("Paragraph") for part in parts)


def test_without_paragraphs_it_cuts_after_a_sentence_then_after_a_word() -> None:
    sentences = PARAGRAPH * 60
    parts = whole_text.pieces(sentences)
    assert "".join(parts) == sentences
    assert all(part.endswith(("? ", "! ", ". ")) for part in parts[:-1])
    words = "word " * 2000
    parts = whole_text.pieces(words)
    assert "".join(parts) == words and all(p.endswith("word ") for p in parts)


def test_a_word_longer_than_a_block_is_cut_but_never_a_character() -> None:
    text = "🎉" * 5000
    parts = whole_text.pieces(text)
    assert "".join(parts) == text
    assert all(utf16_length(p) <= whole_text.BLOCK_UTF16 for p in parts)


CHARS = st.sampled_from(list('ab .!?\n\t🎉&<>’"é')) | st.characters(exclude_categories=("Cs",))
SLOW_OK = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]


@settings(max_examples=200, deadline=None, suppress_health_check=SLOW_OK)
@given(
    st.lists(st.text(CHARS, min_size=1, max_size=40), min_size=1, max_size=40).flatmap(
        # A few pieces repeated: long texts (up to ~16,000 characters) generated quickly.
        lambda pieces: st.lists(st.sampled_from(pieces), min_size=1, max_size=400).map("".join)
    ),
    st.integers(min_value=20, max_value=4000),
)
def test_any_text_in_blocks_joins_back_exactly(text: str, size: int) -> None:
    parts = whole_text.pieces(text, size)
    assert "".join(parts) == text
    assert all(part and utf16_length(part) <= size for part in parts)
    for text_message in whole_text.messages(text, "📋 <b>The reply</b>"):
        check_message_text(text_message, "HTML")  # what Telegram would refuse, refused here
    assert "".join(blocks_of(whole_text.messages(text, "h"))) == text


# --- every card fits ---

CAPS = {"client": 200, "job_title": 500, "message": 50_000, "draft_text": 20_000, "note": 1000}
NASTY = '&<>🎉a \n"é'


def outside(cap: int) -> st.SearchStrategy[str]:
    """A field up to its API cap: often at the cap, of characters that cost the most (a
    repeated pattern: generating 50,000 characters one by one would take minutes)."""
    sizes = st.sampled_from([cap, cap - 1, cap // 2, 1]) | st.integers(1, cap)
    pattern = st.text(alphabet=NASTY, min_size=1, max_size=12)
    return st.tuples(pattern, sizes).map(lambda p: (p[0] * (p[1] // len(p[0]) + 1))[: p[1]])


def card_fields() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {name: outside(cap) for name, cap in CAPS.items()}
        | {
            "link": outside(2000).map(lambda s: "https://www.upwork.com/jobs/~" + s[:1970]),
            "reason": outside(20_000),
            "name": outside(129),
            "confidence": st.integers(0, 100),
        }
    )


def draft_of(fields: dict[str, Any], status: str) -> Draft:
    return Draft(
        id="8a4c2b1e-3f5d-4e6a-9b7c-0d1e2f3a4b5c",
        client=fields["client"].strip() or "c",
        job_title=fields["job_title"],
        message=fields["message"],
        draft_text=fields["draft_text"],
        confidence=fields["confidence"],
        context={"job_link": fields["link"]},
        note=fields["note"],
        citizen="rafael",
        status=status,
        decided_by=123456789,
        decided_at=datetime(2026, 11, 25, 14, 23, tzinfo=UTC),
        sent_at=datetime(2026, 11, 25, 15, 0, tzinfo=UTC),
        created_at=datetime(2026, 11, 25, 14, 0, tzinfo=UTC),
    )


def facts_of(fields: dict[str, Any], status: str, kind: str | None) -> cards.Facts:
    feedback = [DraftFeedback(draft_id="x", kind=kind, text=fields["reason"])] if kind else []
    delivery = Delivery(
        draft_id="x",
        status="failed" if status == "approved" else "pending",
        attempts=3,
        last_error=fields["reason"],
        webhook_id="w",
    )
    return cards.Facts(
        waiting_since=datetime(2026, 11, 20, tzinfo=UTC),
        feedback=feedback,
        decided_by_name=fields["name"],
        job_link=fields["link"],
        delivery=delivery if kind == "delivery" else None,
    )


STATES = [
    ("pending", None),
    ("approved", None),
    ("approved", "delivery"),
    ("sent", None),
    ("sent", "delivery"),
    ("rejected", "reject_reason"),
    ("superseded", None),
    ("superseded", "redraft"),
]


@settings(max_examples=25, deadline=None, suppress_health_check=SLOW_OK)
@given(card_fields())
def test_every_card_fits_whatever_its_outside_fields_hold(
    make_settings: Callable[..., Settings], fields: dict[str, Any]
) -> None:
    config = make_settings(low_confidence=60)
    for status, kind in STATES:
        draft = draft_of(fields, status)
        facts = facts_of(fields, status, kind)
        for title in (None, "Pending draft", "Draft"):
            card = cards.text(draft, facts, config, title=title)
            shown = check_message_text(card, "HTML")  # refuses over 4,096, as Telegram does
            # Raw HTML stays sane: escapes cost at most 5 characters each.
            assert len(card) <= 5 * (MAX_TEXT_UTF16 + len(fields["link"]))
            assert draft.id in shown
            offered = blocks_of([card])
            # A copy block holds the whole text, or there is none.
            assert offered in ([], [draft.draft_text])
            if status not in ("approved", "sent") or title == "Pending draft":
                continue
            # What the card holds is what decides whether the text follows in blocks.
            whole = cards.holds_whole_text(draft, facts, config)
            assert (offered == [draft.draft_text]) == whole
            if not whole:
                assert f"/draft {draft.id[:8]}" in shown
    lead = Lead(
        id=7,
        platform="upwork",
        title=fields["job_title"],
        budget=fields["client"][:100],
        decision="GO",
        reason=fields["reason"],
        urgency=9,
        pain=8,
        link=fields["link"],
    )
    actor = render.who(User(id=1, first_name=fields["name"], is_bot=False, username="n"))
    for kind in lead_cards.KINDS:
        state = lead_cards.LeadState(kind, actor, detail=fields["reason"])
        check_message_text(lead_cards.lead_card(lead, state), "HTML")
    for text in commands.full_draft(draft_of(fields, "approved")):
        check_message_text(text, "HTML")
    delivery = facts_of(fields, "approved", "delivery").delivery
    assert delivery is not None
    check_message_text(delivery_status_line(delivery), "HTML")
    # Notices: a reminder, a session's notice in each state and its failure.
    now = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)
    due = Due(draft=draft_of(fields, "pending"), waiting_since=datetime(2026, 11, 20, tzinfo=UTC))
    check_message_text(reminder_text(due, now), "HTML")
    for status in ("queued", "running", "completed", "failed"):
        row = CitizenSession(
            id="s" * 36,
            citizen="rafael",
            trigger="webhook",
            prompt="p",
            status=status,
            error=fields["reason"],
            output_tail=fields["message"],
            waiting_reason=fields["name"][:100],
        )
        check_message_text(notice_text(row), "HTML")
        check_message_text(failure_text(row), "HTML")


def test_a_card_that_fits_offers_its_whole_text(make_settings: Callable[..., Settings]) -> None:
    fields = {
        "client": "Jane",
        "job_title": "Bot",
        "message": "Hi",
        "draft_text": "Hello <Jane> & co",
        "note": "n",
        "link": "https://x.example/1",
        "reason": "r",
        "name": "Nicolas",
        "confidence": 90,
    }
    config = make_settings()
    card = cards.text(draft_of(fields, "approved"), facts_of(fields, "approved", None), config)
    assert blocks_of([card]) == ["Hello <Jane> & co"]
    assert "Shortened" not in card and "Too long" not in card
    assert render.link_line("https://x.example/1") in card
