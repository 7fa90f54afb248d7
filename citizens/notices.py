"""What the operator's Telegram chat is told about a session: it started, it ended.

Notices are written to the durable outbox in the same transaction as the status change they
report, then the sender is kicked; so a notice is never lost and never sent for a change that
rolled back.
"""

from __future__ import annotations

import html
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import CitizenSession
from storage.repo import outbox
from storage.repo.session_queue import duration_s

SHOWN_OUTPUT_CHARS = 1500
SHOWN_ERROR_CHARS = 800


class SessionNotices:
    """Writes session notices to the outbox; `kick` wakes the bot's sender after a commit.

    Disabled (Telegram off), it writes nothing: a notice nobody will send is not kept.
    """

    def __init__(
        self,
        *,
        enabled: bool,
        default_chat_id: int | None,
        kick: Callable[[], None] = lambda: None,
    ) -> None:
        self._enabled = enabled
        self._default_chat_id = default_chat_id
        self._kick = kick

    async def started(self, *, session: AsyncSession, row: CitizenSession) -> None:
        await self._send(session, row, started_text(row))

    async def finished(self, *, session: AsyncSession, row: CitizenSession) -> None:
        await self._send(session, row, finished_text(row))

    def kick(self) -> None:
        self._kick()

    async def _send(self, session: AsyncSession, row: CitizenSession, text: str) -> None:
        chat_id = row.notify_chat_id or self._default_chat_id
        if self._enabled and chat_id is not None:
            await outbox.enqueue(session=session, chat_id=chat_id, text=text)


def started_text(row: CitizenSession) -> str:
    return (
        f"▶️ <b>{html.escape(row.citizen)}</b> session started\n"
        f"<code>{html.escape(row.id)}</code> · {html.escape(row.trigger)}"
    )


def finished_text(row: CitizenSession) -> str:
    ok = row.status == "completed"
    exit_text = "no exit code" if row.exit_code is None else f"exit {row.exit_code}"
    lines = [
        f"{'✅' if ok else '❌'} <b>{html.escape(row.citizen)}</b> session {row.status} "
        f"after {format_duration(duration_s(row))} ({exit_text})",
        f"<code>{html.escape(row.id)}</code>",
    ]
    if row.error:
        lines.append(html.escape(_tail(row.error, SHOWN_ERROR_CHARS)))
    output = (row.output_tail or "").strip()
    if output:
        lines.append(f"<pre>{html.escape(_tail(output, SHOWN_OUTPUT_CHARS))}</pre>")
    return "\n".join(lines)


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "an unknown time"
    whole = round(seconds)
    if whole < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{whole} s"
    minutes, secs = divmod(whole, 60)
    return f"{minutes} min {secs:02d} s"


def _tail(text: str, limit: int) -> str:
    return text if len(text) <= limit else "…" + text[-limit:]
