"""What the operator's Telegram chat is told about a session: it started, it ended.

Notices are written to the durable outbox in the same transaction as the status change they
report, then the sender is kicked; so a notice is never lost and never sent for a change that
rolled back.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from typing import Any

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

    async def budget_exceeded(
        self,
        *,
        session: AsyncSession,
        spent: float,
        budget: float,
        waiting: Sequence[CitizenSession],
    ) -> None:
        """The day's one budget notice, to the operator's chat: a button per held session."""
        if self._enabled and self._default_chat_id is not None:
            await outbox.enqueue(
                session=session,
                chat_id=self._default_chat_id,
                text=budget_text(spent, budget, waiting),
                reply_markup=budget_markup(waiting),
            )

    def kick(self) -> None:
        self._kick()

    async def _send(self, session: AsyncSession, row: CitizenSession, text: str) -> None:
        chat_id = row.notify_chat_id or self._default_chat_id
        if self._enabled and chat_id is not None:
            await outbox.enqueue(session=session, chat_id=chat_id, text=text)


BUDGET_RUN = "budget_run"
MAX_BUDGET_BUTTONS = 20


def budget_text(spent: float, budget: float, waiting: Sequence[CitizenSession]) -> str:
    lines = [
        f"💸 Today's citizen sessions have cost {format_cost(spent)}: the daily budget "
        f"(CITIZENS_DAILY_BUDGET_USD) is {format_cost(budget)}.",
        f"{len(waiting)} session(s) wait until tomorrow; a button starts one anyway.",
    ]
    for row in waiting[:MAX_BUDGET_BUTTONS]:
        lines.append(f"• <b>{html.escape(row.citizen)}</b> <code>{html.escape(row.id)}</code>")
    return "\n".join(lines)


def budget_markup(waiting: Sequence[CitizenSession]) -> dict[str, Any] | None:
    if not waiting:
        return None
    buttons = [
        [{"text": f"▶️ Run {row.citizen} anyway", "callback_data": f"{BUDGET_RUN}:{row.id}"}]
        for row in waiting[:MAX_BUDGET_BUTTONS]
    ]
    return {"inline_keyboard": buttons}


def format_cost(usd: float) -> str:
    return f"${usd:.2f}" if usd >= 0.1 else f"${usd:.4f}"


def started_text(row: CitizenSession) -> str:
    return (
        f"▶️ <b>{html.escape(row.citizen)}</b> session started\n"
        f"<code>{html.escape(row.id)}</code> · {html.escape(row.trigger)}"
    )


def finished_text(row: CitizenSession) -> str:
    ok = row.status == "completed"
    exit_text = "no exit code" if row.exit_code is None else f"exit {row.exit_code}"
    cost = "" if row.cost_usd is None else f", {format_cost(row.cost_usd)}"
    lines = [
        f"{'✅' if ok else '❌'} <b>{html.escape(row.citizen)}</b> session {row.status} "
        f"after {format_duration(duration_s(row))} ({exit_text}{cost})",
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
