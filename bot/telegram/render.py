"""The operator's view of a draft, in Telegram HTML: every outside text escaped, always fits.

Telegram refuses a message whose text (after HTML parsing) is over 4096 UTF-16 code units.
Every outside field of a card (client, job title, link, note, reasons) is cut to a share of
that, so a card always fits; a draft text that does not fit is shortened on the card and never
offered for copying cut: bot/telegram/whole_text.py sends it whole, in as many blocks as needed.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from telegram import User

from citizens.text import cut, esc, utf16_len
from storage.models import Draft
from storage.types import utcnow

MAX_MESSAGE_UTF16 = 4096
CLIENT_MESSAGE_MAX = 1000
NAME_SHOWN = 100
"""A client's name on a card (the API takes 200)."""
TITLE_SHOWN = 200
"""A job title on a card (the API takes 500)."""
LINK_SHOWN = 80
"""What a link shows of itself; the whole link is its target."""
TEXT_ROOM_MIN = 1000
"""Below this much room for the draft text, the client's message is cut further."""
SHORT_ID = 8
"""`/draft` takes the first 8 characters of an id."""
LINK_KEYS = ("job_link", "link", "job_url", "url")

_TAG = re.compile(r"<[^>]*>")


def plural(count: int, word: str, words: str | None = None) -> str:
    """`1 proposal`, `2 proposals`, `0 proposals` (`words`: an irregular plural)."""
    return f"{count:,} {word if count == 1 else words or word + 's'}"


def visible_length(markup: str) -> int:
    """What Telegram counts: the text left once our (well-formed) HTML is parsed."""
    return utf16_len(html.unescape(_TAG.sub("", markup)))


def job_link(draft: Draft) -> str | None:
    for key in LINK_KEYS:
        value = (draft.context or {}).get(key)
        if isinstance(value, str) and value.startswith(("https://", "http://")):
            return value
    return None


def link_line(url: str) -> str:
    """`🔗 <link>`: a web link shows its start and opens whole; anything else is cut text."""
    shown = esc(cut(url, LINK_SHOWN))
    if url.startswith(("https://", "http://")):
        return f'🔗 <a href="{html.escape(url, quote=True)}">{shown}</a>'
    return f"🔗 {shown}"


def client_and_job(
    client: str, job_title: str | None, *, limit: int = 80, bold: bool = True
) -> str:
    """`client · job` (the client in bold), each cut to `limit`, escaped: a list line's head."""
    name = esc(cut(client, limit))
    job = f" · {esc(cut(job_title, limit))}" if job_title else ""
    return f"<b>{name}</b>{job}" if bold else f"{name}{job}"


def short_id(draft_id: str) -> str:
    return draft_id[:SHORT_ID]


def card_layout(
    draft: Draft,
    *,
    title: str = "New draft",
    footer: str = "",
    top: Sequence[str] = (),
    pre: bool = False,
) -> tuple[str, bool]:
    """The card of `draft` and whether it holds the whole text; `top` lines go under the
    heading (HTML, kept short by the caller), `footer` is a state line; `pre` shows the text
    in a block that one tap copies. A text that does not fit is shortened, shown as plain
    text (never in a copy block), and the card says where the rest is."""
    text = draft.draft_text
    parts = _Parts(title, top, footer, pre)
    message = cut(draft.message, CLIENT_MESSAGE_MAX)
    card = _card(draft, parts, message, text, "")
    if message == draft.message and visible_length(card) <= MAX_MESSAGE_UTF16:
        return card, True
    if pre:
        note = (
            f"✂️ Too long for this card ({len(text):,} characters): the whole reply follows "
            f"in blocks to copy in order (again: /draft {short_id(draft.id)})."
        )
    else:
        note = (
            f"✂️ Shortened here ({len(text):,} characters in all). "
            f"Full text: /draft {short_id(draft.id)}"
        )

    def room(message: str) -> int:
        skeleton = _card(draft, parts, message, "", note, shortened=True)
        return MAX_MESSAGE_UTF16 - visible_length(skeleton)

    if room(message) < TEXT_ROOM_MIN:
        message = cut(draft.message, TEXT_ROOM_MIN // 3)
    if utf16_len(text) <= room(message):  # only the client's message had to be cut
        return _card(draft, parts, message, text, ""), True
    shown = cut(text, max(room(message), 1))
    return _card(draft, parts, message, shown, note, shortened=True), False


@dataclass(frozen=True)
class _Parts:
    title: str
    top: Sequence[str]
    footer: str
    pre: bool


def _card(
    draft: Draft, parts: _Parts, message: str, text: str, note: str, *, shortened: bool = False
) -> str:
    """`shortened`: `text` is not whole: shown as plain text, not offered for copying."""
    lines = [
        f"📝 <b>{esc(parts.title)}</b> by {esc(draft.citizen)} · confidence {draft.confidence}%",
        *parts.top,
        f"👤 <b>Client:</b> {esc(cut(draft.client, NAME_SHOWN))}",
        f"💼 <b>Job:</b> {esc(cut(draft.job_title, TITLE_SHOWN))}",
    ]
    link = job_link(draft)
    if link:
        lines.append(link_line(link))
    lines += ["", "<b>Client's message:</b>", f"<blockquote>{esc(message)}</blockquote>"]
    body = f"<pre>{esc(text)}</pre>" if parts.pre and not shortened else esc(text)
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
    return f'<a href="tg://user?id={uid}">{esc(cut(name, NAME_SHOWN))}</a>'


def when(moment: datetime | None = None) -> str:
    return (moment or utcnow()).strftime("%Y-%m-%d %H:%M UTC")
