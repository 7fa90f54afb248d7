"""A new draft reaches the operator's chat as one escaped, fitting card with three buttons."""

from __future__ import annotations

import html
import re
from collections.abc import Callable

from bot.settings import Settings
from tests.fake_telegram import FakeTelegram
from tests.telegram_support import DRAFT, free_port, running_service
from tests.telegram_updates import OPERATOR_ID


async def test_a_new_draft_sends_one_escaped_card_with_its_buttons(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    async with running_service(telegram_settings(port=free_port()), fake_telegram) as service:
        created = await service.post_draft()
        assert created["telegram_sent"] is True
        draft = await service.draft(created["draft_id"])

    [sent] = fake_telegram.sent_messages()
    assert sent["chat_id"] == OPERATOR_ID
    assert sent["parse_mode"] == "HTML"
    buttons = sent["reply_markup"]["inline_keyboard"]
    assert [b["callback_data"] for row in buttons for b in row] == [
        f"approve:{draft.id}",
        f"edit:{draft.id}",
        f"redraft:{draft.id}",
        f"reject:{draft.id}",
    ]
    # What the operator reads is the outside text exactly as it was sent, not markup.
    shown = fake_telegram.message(OPERATOR_ID, draft.telegram_message_id or 0)["text"]
    for field in ("client", "job_title", "message", "draft_text"):
        assert DRAFT[field] in shown
    assert "85%" in shown
    assert DRAFT["context"]["job_link"] in shown
    [row] = await service.outbox()
    assert (row.status, row.message_id, row.attempts) == ("sent", draft.telegram_message_id, 1)


async def test_a_10000_character_draft_is_shortened_in_its_card_and_sent_whole_on_request(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    words = " ".join(f"word{n}🙂" for n in range(1300))
    long_text = (words * 2)[:10_000]
    async with running_service(telegram_settings(port=free_port()), fake_telegram) as service:
        created = await service.post_draft(draft_text=long_text, message="<" * 3000)
        assert created["telegram_sent"] is True
        draft = await service.draft(created["draft_id"])
        assert draft.draft_text == long_text

        card = fake_telegram.message(OPERATOR_ID, draft.telegram_message_id or 0)
        assert len(card["text"].encode("utf-16-le")) // 2 <= 4096
        assert f"/draft {draft.id[:8]}" in card["text"]
        assert long_text[:1000] in card["text"]

        before = len(fake_telegram.sent_messages())
        service.say(f"/draft {draft.id[:8]}")

        def full_text() -> list[str]:
            texts = [m["text"] for m in fake_telegram.sent_messages()[before:]]
            done = any(re.search(r"part (\d+) of \1\n<pre>", text) for text in texts)
            return texts if done else []

        texts = await fake_telegram.wait_for(full_text, what="the full draft")
    assert texts[0].startswith("📄 <b>Draft</b> for Acme")
    assert "<blockquote>" + "&lt;" * 999 + "…</blockquote>" in texts[0]
    assert "the client's message is 3,000 characters; cut here" in texts[0]
    # The draft text whole, in blocks cut between words: joined, exactly the text.
    blocks = [
        html.unescape(b) for t in texts[1:] for b in re.findall(r"<pre>(.*?)</pre>", t, re.S)
    ]
    assert len(blocks) == 3 and "".join(blocks) == long_text
    assert all(block.endswith(" ") for block in blocks[:-1])
    assert not any("Shortened" in text for text in texts)
