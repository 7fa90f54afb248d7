"""The operator's view of a draft, in Telegram HTML: every outside text escaped, always fits.

Telegram refuses a message whose text (after HTML parsing) is over 4096 UTF-16 code units, so
a long draft is shortened in its card; the full text stays in the database, `/draft <id>`
sends up to four messages of it, and `GET /api/draft/{id}` answers it whole.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from telegram import User

from storage.models import Draft
from storage.types import utcnow

MAX_MESSAGE_UTF16 = 4096
CLIENT_MESSAGE_MAX = 1000
FULL_TEXT_MESSAGES = 4
"""`/draft <id>` sends at most this many messages (about 11,000 characters of draft text);
the API has the rest."""
FOOTER_ROOM = 300
"""Room kept free in every card for the decision line added when it is decided."""
LINK_KEYS = ("job_link", "link", "job_url", "url")

_TAG = re.compile(r"<[^>]*>")


def esc(text: object) -> str:
    return html.escape(str(text), quote=False)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def visible_length(markup: str) -> int:
    """What Telegram counts: the text left once our (well-formed) HTML is parsed."""
    return utf16_len(html.unescape(_TAG.sub("", markup)))


def cut(text: str, limit: int) -> str:
    """`text` if it fits in `limit` UTF-16 units, else its start (at a space if one is near) + …"""
    if utf16_len(text) <= limit:
        return text
    kept, used = [], 0
    for char in text:
        used += utf16_len(char)
        if used > limit - 1:
            break
        kept.append(char)
    start = "".join(kept)
    space = start.rfind(" ", max(0, len(start) - 100))
    return (start[:space] if space > 0 else start).rstrip() + "…"


def job_link(draft: Draft) -> str | None:
    for key in LINK_KEYS:
        value = (draft.context or {}).get(key)
        if isinstance(value, str) and value.startswith(("https://", "http://")):
            return value
    return None


def draft_card(
    draft: Draft,
    *,
    title: str = "New draft",
    footer: str = "",
    text: str | None = None,
    top: Sequence[str] = (),
    pre: bool = False,
) -> str:
    """The card of `draft` (or of its older `text`); `top` lines go under the heading (they
    are HTML), `footer` is a state line; `pre` shows the text in a block that one tap copies."""
    text = draft.draft_text if text is None else text
    message = cut(draft.message, CLIENT_MESSAGE_MAX)
    parts = _Parts(title, top, footer, pre)
    card = _card(draft, parts, message, text, "")
    if message == draft.message and visible_length(card) <= MAX_MESSAGE_UTF16 - FOOTER_ROOM:
        return card
    note = f"✂️ Shortened here ({len(text):,} characters in all). Full text: /draft {draft.id}"
    skeleton = visible_length(_card(draft, parts, message, "", note))
    room = MAX_MESSAGE_UTF16 - FOOTER_ROOM - skeleton
    return _card(draft, parts, message, cut(text, room), note)


@dataclass(frozen=True)
class _Parts:
    title: str
    top: Sequence[str]
    footer: str
    pre: bool


def _card(draft: Draft, parts: _Parts, message: str, text: str, note: str) -> str:
    lines = [
        f"📝 <b>{esc(parts.title)}</b> by {esc(draft.citizen)} · confidence {draft.confidence}%",
        *parts.top,
        f"👤 <b>Client:</b> {esc(draft.client)}",
        f"💼 <b>Job:</b> {esc(draft.job_title)}",
    ]
    link = job_link(draft)
    if link:
        lines.append(f"🔗 {esc(link)}")
    lines += ["", "<b>Client's message:</b>", f"<blockquote>{esc(message)}</blockquote>"]
    body = f"<pre>{esc(text)}</pre>" if parts.pre else esc(text)
    lines += ["", "<b>Draft:</b>", body]
    if note:
        lines += ["", f"<i>{esc(note)}</i>"]
    lines.append(f"<code>{esc(draft.id)}</code>")
    if parts.footer:
        lines += ["", parts.footer]
    return "\n".join(lines)


def who(user: User | None, user_id: int | None = None) -> str:
    """A mention of the operator who acted (a link that works in every client)."""
    uid = user.id if user is not None else user_id
    name = user.full_name if user is not None else f"user {uid}"
    if user is not None and user.username:
        name += f" (@{user.username})"
    return f'<a href="tg://user?id={uid}">{esc(name)}</a>'


def when(moment: datetime | None = None) -> str:
    return (moment or utcnow()).strftime("%Y-%m-%d %H:%M UTC")


def decision_footer(status: str, actor: str, moment: datetime | None) -> str:
    mark = "✅ <b>Approved</b>" if status == "approved" else "❌ <b>Rejected</b>"
    return f"{mark} by {actor} · {when(moment)}"


def full_text_messages(draft: Draft, size: int = 3900) -> list[str]:
    """The draft in at most FULL_TEXT_MESSAGES messages that each fit: a heading with the
    client's message, then the draft text. What does not fit is left to the API."""
    message = cut(draft.message, CLIENT_MESSAGE_MAX)
    texts = [
        f"📄 <b>Full draft</b> for {esc(draft.client)} · <b>{esc(draft.job_title)}</b>\n"
        f"<code>{esc(draft.id)}</code> · status <b>{esc(draft.status)}</b>\n\n"
        f"<b>Client's message:</b>\n<blockquote>{esc(message)}</blockquote>"
    ]
    pieces = list(_split(draft.draft_text, size))
    shown = pieces[: FULL_TEXT_MESSAGES - 1]
    for number, piece in enumerate(shown, 1):
        part = f" ({number}/{len(pieces)})" if len(pieces) > 1 else ""
        texts.append(f"<b>Draft{part}:</b>\n{esc(piece)}")
    if len(shown) < len(pieces) or message != draft.message:
        texts[-1] += (
            f"\n\n<i>✂️ Shortened ({len(draft.draft_text):,} characters of draft in all): the "
            f"full text is in the API, GET /api/draft/{esc(draft.id)}</i>"
        )
    return texts


def _split(text: str, size: int) -> Iterator[str]:
    while utf16_len(text) > size:
        piece = cut(text, size + 1)[:-1]
        yield piece
        text = text[len(piece) :].lstrip()
    if text:
        yield text
