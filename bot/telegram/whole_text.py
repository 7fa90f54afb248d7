"""Long texts offered whole (CONTRACT §14): never a cut text in a block that one tap copies.

A text too long for one message is sent in as many messages as it needs, each one `<pre>`
block. The cuts fall between paragraphs, else between sentences, else between words (a
"word" longer than a whole block is the only thing ever cut inside), and the whitespace at a
cut stays at the end of the block before it: the blocks joined are exactly the text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from bot.settings import Settings
from bot.telegram import render
from storage.models import Draft
from storage.repo import draft_messages, outbox

BLOCK_UTF16 = 3800
"""The text of one block: what a message holds, less its heading."""
HEADING_NAME = 60

_PARAGRAPH = re.compile(r"\n[ \t]*\n\s*")
_SENTENCE = re.compile(r"(?<=[.!?…:;])[\"'”’)\]]*\s+|\n\s*")
_WORD = re.compile(r"\s+")


def pieces(text: str, size: int = BLOCK_UTF16) -> list[str]:
    """`text` in pieces of at most `size` UTF-16 units whose join is `text` exactly."""
    found: list[str] = []
    rest = text
    while render.utf16_len(rest) > size:
        end = _fitting(rest, size)
        cut = _last_break(rest, end)
        found.append(rest[:cut])
        rest = rest[cut:]
    if rest or not found:
        found.append(rest)
    return found


def _fitting(text: str, size: int) -> int:
    """How many characters of `text` fit in `size` UTF-16 units (never half a character)."""
    used = 0
    for index, char in enumerate(text):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > size:
            return index
    return len(text)


def _last_break(text: str, end: int) -> int:
    """Where to cut `text` within its first `end` characters: after the last paragraph break
    in the second half, else the last sentence end, else the last space; else at `end`."""
    window = text[:end]
    for pattern in (_PARAGRAPH, _SENTENCE, _WORD):
        cuts = [m.end() for m in pattern.finditer(window) if m.end() < len(text)]
        cuts = [c for c in cuts if c >= end // 2] if pattern is _PARAGRAPH else cuts
        if cuts and cuts[-1] > 0:
            return cuts[-1]
    return max(end, 1)


def messages(text: str, heading: str) -> list[str]:
    """Messages of `text` in `<pre>` blocks under `heading` (HTML, escaped by the caller)."""
    parts = pieces(text)
    if len(parts) == 1:
        return [f"{heading}\n<pre>{render.esc(parts[0])}</pre>"]
    return [
        f"{heading} · part {number} of {len(parts)}\n<pre>{render.esc(part)}</pre>"
        for number, part in enumerate(parts, 1)
    ]


def reply_heading(draft: Draft) -> str:
    client = render.esc(render.cut(draft.client, HEADING_NAME))
    return f"📋 <b>The reply to {client}</b>, to copy"


async def queue_follow_up(
    *,
    session: AsyncSession,
    settings: Settings,
    draft: Draft,
    card: tuple[int, int] | None = None,
    title: str | None = None,
) -> int:
    """The approved `draft`'s whole text, in every chat that shows its card (as replies to
    the card), when the card could not hold it; returns how many messages were queued.
    `card`: (chat_id, outbox id) of a card just queued (under `title`), not sent yet: the
    text follows it."""
    from bot.telegram import cards  # cards decides what a card holds

    facts = await cards.facts_of(session=session, draft=draft)
    if draft.status not in ("approved", "sent") or cards.holds_whole_text(
        draft, facts, settings, title=title
    ):
        return 0
    texts = messages(draft.draft_text, reply_heading(draft))
    if card is not None:
        for text in texts:
            await outbox.enqueue(
                session=session, chat_id=card[0], text=text, reply_to_outbox_id=card[1]
            )
        return len(texts)
    latest: dict[int, int | None] = {}
    for chat_id, message_id in await draft_messages.of_draft(session=session, draft_id=draft.id):
        latest[chat_id] = message_id
    if settings.telegram_chat_id is not None and settings.telegram_chat_id not in latest:
        latest[settings.telegram_chat_id] = draft.telegram_message_id
    for chat_id, card_id in latest.items():
        await _queue(session, chat_id, texts, reply_to=card_id)
    return len(texts) * len(latest)


async def _queue(
    session: AsyncSession, chat_id: int, texts: Sequence[str], *, reply_to: int | None
) -> None:
    for text in texts:
        await outbox.enqueue(
            session=session, chat_id=chat_id, text=text, reply_to_message_id=reply_to
        )
