"""Clients who wait with no pending draft, as the operator's chat shows them (CONTRACT §14):
listed by /drafts after the pending drafts ("waiting, no draft"), and reminded of once they
have waited REMIND_AFTER_S, each with Retry / Answer while nothing is being drafted."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.telegram import render
from citizens import thread_notices
from citizens.figures import waited
from storage.models import Thread
from storage.repo.thread_waits import ThreadWaiting

BUTTON_ROWS = 5
NAME_IN_BUTTON = 18


def _who(thread: Thread) -> str:
    return f"👤 {render.client_and_job(thread.client, thread.job_title)}"


def listing(items: Sequence[ThreadWaiting], now: datetime) -> tuple[str, dict[str, Any] | None]:
    """The /drafts message for threads waiting with no draft: text and buttons."""
    lines = [f"⏳ <b>Waiting, no draft</b> ({len(items)}), the longest first:"]
    rows: list[list[dict[str, Any]]] = []
    for item in items:
        since = item.thread.waiting_since or now
        state = render.esc(thread_notices.waiting_state(item.session, item.draft))
        lines.append(f"{_who(item.thread)} — {waited(since, now)}\n   {state}")
        if len(rows) < BUTTON_ROWS and thread_notices.can_retry(item.session, item.draft):
            rows.append(_buttons(item.thread))
    text = "\n".join(lines)
    while render.visible_length(text) > render.MAX_MESSAGE_UTF16 - 100 and len(lines) > 2:
        lines.pop()
        text = "\n".join([*lines, "… and more: /threads"])
    return text, {"inline_keyboard": rows} if rows else None


def _buttons(thread: Thread) -> list[dict[str, Any]]:
    name = render.cut(thread.client, NAME_IN_BUTTON)
    retry, answer = thread_notices.markup(thread.id)["inline_keyboard"][0]
    return [
        {**retry, "text": f"🔁 Retry · {name}"},
        {**answer, "text": f"✍️ Answer · {name}"},
    ]


def reminder(item: ThreadWaiting, now: datetime) -> tuple[str, dict[str, Any] | None]:
    """The reminder of a thread whose client waits with no draft: text and buttons."""
    since = item.thread.waiting_since or now
    state = render.esc(thread_notices.waiting_state(item.session, item.draft))
    text = (
        f"⏰ <b>{render.esc(render.cut(item.thread.client, 120))}</b> has waited "
        f"{waited(since, now)}"
        + (
            f" · {render.esc(render.cut(item.thread.job_title, 120))}"
            if item.thread.job_title
            else ""
        )
        + f"\nNo draft: {state}"
    )
    markup = (
        thread_notices.markup(item.thread.id)
        if thread_notices.can_retry(item.session, item.draft)
        else None
    )
    return text, markup
