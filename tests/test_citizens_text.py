"""Outside text on the operator's messages: cut as Telegram counts (UTF-16 units), one way for
the bot's cards and the citizens' notices alike."""

from __future__ import annotations

import re

from bot.telegram import render
from citizens import notices, thread_notices
from citizens.text import cut, tail, utf16_len
from storage.models import CitizenSession
from tests.bot_api_rules import check_message_text

EMOJI_NAME = "Zoë 👩‍💻🎉 " + "🎉" * 150


def bold(markup: str) -> str:
    [shown] = re.findall(r"<b>(.*?)</b>", markup)
    return shown


def test_an_emoji_name_is_cut_alike_on_the_notice_and_the_card() -> None:
    """A client's name counted in code points overflowed what was meant: 150 emoji are 300
    units to Telegram."""
    on_notice = bold(thread_notices.heading(EMOJI_NAME, None))
    on_card = bold(render.client_and_job(EMOJI_NAME, None, limit=thread_notices.TITLE_CHARS))
    assert on_notice == on_card == cut(EMOJI_NAME, thread_notices.TITLE_CHARS)
    assert utf16_len(on_notice) <= thread_notices.TITLE_CHARS
    assert on_notice.startswith("Zoë 👩‍💻🎉") and on_notice.endswith("…")


def test_a_failed_session_with_emoji_output_still_fits_one_message() -> None:
    row = CitizenSession(
        id="8a4c2b1e-3f5d-4e6a-9b7c-0d1e2f3a4b5c",
        citizen="rafael",
        trigger="manual",
        prompt="p",
        status="failed",
        exit_code=1,
        error="🔥" * 2000,
        output_tail="📄" * 4000,
    )
    text = notices.finished_text(row)
    assert utf16_len(check_message_text(text, "HTML")) <= render.MAX_MESSAGE_UTF16
    assert "🔥" in text and "📄" in text


def test_a_tail_keeps_the_end_within_its_units() -> None:
    assert tail("fits", 4) == "fits"
    assert tail("🎉" * 10, 7) == "…🎉🎉🎉"
    assert tail("a🎉b", 3) == "…b"
