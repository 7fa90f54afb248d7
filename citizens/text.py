"""Outside text made safe for a Telegram HTML message, measured as Telegram measures it.

Telegram counts a message's length in UTF-16 code units (an emoji is two, or more), so every
limit here is in those units. The bot's cards (bot/telegram/render.py) and the citizens'
notices both cut and escape with these.
"""

from __future__ import annotations

import html

SPACE_WITHIN = 100
"""A cut ends at a space when one is this near the limit."""


def esc(text: object) -> str:
    return html.escape(str(text), quote=False)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def cut(text: str, limit: int) -> str:
    """`text` if it fits in `limit` UTF-16 units, else its start (at a space if one is near) + …"""
    if utf16_len(text) <= limit:
        return text
    start = _within(text, limit - 1)
    space = start.rfind(" ", max(0, len(start) - SPACE_WITHIN))
    return (start[:space] if space > 0 else start).rstrip() + "…"


def tail(text: str, limit: int) -> str:
    """`text` if it fits in `limit` UTF-16 units, else … + its end (the end says most)."""
    if utf16_len(text) <= limit:
        return text
    return "…" + _within(text[::-1], limit - 1)[::-1]


def _within(text: str, limit: int) -> str:
    """The longest start of `text` that fits in `limit` UTF-16 units."""
    kept, used = [], 0
    for char in text:
        used += utf16_len(char)
        if used > limit:
            break
        kept.append(char)
    return "".join(kept)
