"""What the operator's Telegram chat is told about a session: one message, edited as it goes.

The notice is sent silently when the session is queued (or, if nobody queued one, when it
starts) and then edited in place: running, then completed or failed with its duration and
cost. A failure is also announced by a short reply to the notice, which does notify. Every
message is written to the durable outbox in the same transaction as the change it reports,
then the sender is kicked; so a notice is never lost and never sent for a change that rolled
back.

A session on a client's thread has no notice of its own: the message about the client's
message (citizens/thread_notices.py) is its notice, edited as the session goes; when the
session leaves the client with nothing to approve, that message offers Retry and Answer and
the reply names the client.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from citizens import figures, thread_notices
from citizens.text import esc, tail
from storage.models import CitizenSession, Thread
from storage.repo import outbox, thread_waits
from storage.repo.citizen_queue import duration_s

SHOWN_OUTPUT_CHARS = 1500
SHOWN_ERROR_CHARS = 800
SHOWN_FAILURE_CHARS = 300
ANNOUNCED_PER_ROUND = 20


class FinishedHook(Protocol):
    async def __call__(self, *, session: AsyncSession, row: CitizenSession) -> None: ...


class SessionNotices:
    """Writes session notices to the outbox; `kick` wakes the bot's sender after a commit.

    Disabled (Telegram off), it writes nothing: a notice nobody will send is not kept.
    """

    def __init__(
        self,
        *,
        enabled: bool,
        operator_chat: Callable[[], int | None],
        kick: Callable[[], None] = lambda: None,
        on_finished: FinishedHook | None = None,
    ) -> None:
        """`operator_chat` answers the operator's chat now (a pairing may set it later).
        `on_finished` is told of every session that ended, in its transaction (the bot
        updates what else shows it, such as the card of the lead it proposes for)."""
        self._enabled = enabled
        self._operator_chat = operator_chat
        self._kick = kick
        self._on_finished = on_finished

    def chat_of(self, row: CitizenSession) -> int | None:
        return (row.notify_chat_id or self._operator_chat()) if self._enabled else None

    async def announce_queued(self, *, session: AsyncSession) -> int:
        """Send the notice of every queued session that has none yet; returns how many.

        Rows are locked while their notice is queued (skipped by other processes), so each
        session gets one notice however many processes announce."""
        if not self._enabled:
            return 0
        rows = (
            await session.scalars(
                select(CitizenSession)
                .where(
                    col(CitizenSession.status) == "queued",
                    col(CitizenSession.notice_outbox_id).is_(None),
                )
                .order_by(col(CitizenSession.created_at))
                .limit(ANNOUNCED_PER_ROUND)
                .with_for_update(skip_locked=True)
            )
        ).all()
        for row in rows:
            if row.thread_id is None:
                await queue_notice(session=session, row=row, chat_id=self.chat_of(row))
            else:
                await self._show(session, row)
        return len(rows)

    async def started(self, *, session: AsyncSession, row: CitizenSession) -> None:
        await self._show(session, row)

    async def finished(self, *, session: AsyncSession, row: CitizenSession) -> None:
        if row.thread_id is not None:
            await self._thread_finished(session, row)
            return
        await self._show(session, row)
        if self._enabled and self._on_finished is not None:
            await self._on_finished(session=session, row=row)
        chat_id = self.chat_of(row)
        if row.status == "failed" and chat_id is not None:
            await outbox.enqueue(
                session=session,
                chat_id=chat_id,
                text=failure_text(row),
                reply_to_outbox_id=row.notice_outbox_id,
            )

    async def budget_exceeded(
        self,
        *,
        session: AsyncSession,
        spent: float,
        budget: float,
        waiting: Sequence[CitizenSession],
    ) -> None:
        """The day's one budget notice, to the operator's chat: a button per held session."""
        chat_id = self._operator_chat()
        if self._enabled and chat_id is not None:
            await outbox.enqueue(
                session=session,
                chat_id=chat_id,
                text=budget_text(spent, budget, waiting),
                reply_markup=budget_markup(waiting),
            )

    def kick(self) -> None:
        self._kick()

    async def show(self, *, session: AsyncSession, row: CitizenSession) -> None:
        """Bring the session's notice to its state now (a retry queued it again)."""
        await self._show(session, row)

    async def _thread_finished(self, session: AsyncSession, row: CitizenSession) -> None:
        """A thread session ended: its draft's card has taken the message over; or, with no
        draft, the message offers Retry / Answer and a reply naming the client notifies."""
        chat_id = self.chat_of(row)
        thread = await session.get(Thread, row.thread_id)
        if chat_id is None or thread is None:
            return
        drafted = await thread_waits.has_draft(session=session, session_id=row.id)
        if not thread_notices.needs_operator(row, drafted=drafted):
            return
        if not drafted:
            await self._show(session, row, drafted=False)
        await outbox.enqueue(
            session=session,
            chat_id=chat_id,
            text=thread_notices.stopped_reply(row, thread, drafted=drafted),
            reply_to_outbox_id=row.notice_outbox_id,
            thread_id=thread.id,
        )

    async def _thread_text(
        self, session: AsyncSession, row: CitizenSession, *, drafted: bool
    ) -> tuple[str, dict[str, Any] | None] | None:
        thread = await session.get(Thread, row.thread_id)
        if thread is None:
            return None
        message = await thread_waits.message_answered_by(session=session, row=row)
        text = thread_notices.session_text(
            row, thread, message.text if message else "", drafted=drafted
        )
        stopped = thread_notices.needs_operator(row, drafted=drafted)
        return text, thread_notices.markup(thread.id) if stopped else None

    async def _show(
        self, session: AsyncSession, row: CitizenSession, *, drafted: bool | None = None
    ) -> None:
        """Send or edit the session's notice; `drafted`: whether it posted a draft, when the
        caller has already asked."""
        chat_id = self.chat_of(row)
        if chat_id is None:
            return
        if row.thread_id is not None:
            if drafted is None:
                drafted = row.status != "queued" and await thread_waits.has_draft(
                    session=session, session_id=row.id
                )
            shown = await self._thread_text(session, row, drafted=drafted)
            if shown is None:
                return
            text, markup = shown
            if row.notice_outbox_id is None:
                row.notice_outbox_id = await outbox.enqueue(
                    session=session,
                    chat_id=chat_id,
                    text=text,
                    reply_markup=markup,
                    silent=True,
                    thread_id=row.thread_id,
                )
                session.add(row)
                await session.flush()
            elif not drafted:  # its draft's card is the message now, not to be overwritten
                await outbox.enqueue(
                    session=session,
                    chat_id=chat_id,
                    text=text,
                    reply_markup=markup,
                    edit_outbox_id=row.notice_outbox_id,
                )
            return
        if row.notice_outbox_id is None:
            await queue_notice(session=session, row=row, chat_id=chat_id)
        else:
            await outbox.enqueue(
                session=session,
                chat_id=chat_id,
                text=notice_text(row),
                edit_outbox_id=row.notice_outbox_id,
            )


BUDGET_RUN = "budget_run"
MAX_BUDGET_BUTTONS = 20


def budget_text(spent: float, budget: float, waiting: Sequence[CitizenSession]) -> str:
    lines = [
        f"💸 Today's citizen sessions have cost {figures.cost(spent)}: the daily budget "
        f"(CITIZENS_DAILY_BUDGET_USD) is {figures.cost(budget)}.",
        f"{len(waiting)} session(s) wait until tomorrow; a button starts one anyway.",
    ]
    for row in waiting[:MAX_BUDGET_BUTTONS]:
        lines.append(f"• <b>{esc(row.citizen)}</b> <code>{esc(row.id)}</code>")
    return "\n".join(lines)


def budget_markup(waiting: Sequence[CitizenSession]) -> dict[str, Any] | None:
    if not waiting:
        return None
    buttons = [
        [{"text": f"▶️ Run {row.citizen} anyway", "callback_data": f"{BUDGET_RUN}:{row.id}"}]
        for row in waiting[:MAX_BUDGET_BUTTONS]
    ]
    return {"inline_keyboard": buttons}


async def queue_notice(
    *,
    session: AsyncSession,
    row: CitizenSession,
    chat_id: int | None,
    ahead: int | None = None,
    topic_id: int | None = None,
) -> int | None:
    """Queue the session's notice (silent) and remember it on the row; its outbox id.
    `topic_id`: the forum topic of the command that queued the session (it answers there)."""
    if chat_id is None:
        return None
    outbox_id = await outbox.enqueue(
        session=session,
        chat_id=chat_id,
        text=notice_text(row, ahead=ahead),
        silent=True,
        topic_id=topic_id,
    )
    row.notice_outbox_id = outbox_id
    session.add(row)
    await session.flush()
    return outbox_id


def notice_text(row: CitizenSession, *, ahead: int | None = None) -> str:
    """The notice as the session stands now: queued, running, completed or failed."""
    name = f"<b>{esc(row.citizen)}</b>"
    ident = f"<code>{esc(row.id)}</code> · {esc(row.trigger)}"
    if row.status == "queued":
        where = "" if ahead is None else (" · starting now" if ahead == 0 else f" · {ahead} ahead")
        if row.waiting_reason:
            where = f", held back by the {esc(row.waiting_reason)}"
        return f"🕐 {name} session queued{where}\n{ident}"
    if row.status == "running":
        return f"▶️ {name} session running\n{ident}"
    return finished_text(row)


def finished_text(row: CitizenSession) -> str:
    ok = row.status == "completed"
    exit_text = "no exit code" if row.exit_code is None else f"exit {row.exit_code}"
    cost = "" if row.cost_usd is None else f" · {figures.cost(row.cost_usd)}"
    lines = [
        f"{'✅' if ok else '❌'} <b>{esc(row.citizen)}</b> session {row.status} "
        f"after {figures.duration(duration_s(row))} ({exit_text}){cost}",
        f"<code>{esc(row.id)}</code> · {esc(row.trigger)}",
    ]
    if row.error:
        lines.append(esc(tail(row.error, SHOWN_ERROR_CHARS)))
    output = _shown_output(row)
    if output:
        lines.append(f"<pre>{esc(tail(output, SHOWN_OUTPUT_CHARS))}</pre>")
    return "\n".join(lines)


def _shown_output(row: CitizenSession) -> str:
    """What the session said: the JSON result's text when there was one (the raw result is a
    page of JSON nobody reads on a phone), else the end of the CLI's output. Never what the
    error line already says."""
    if row.result is not None:
        said = row.result.strip()
        return "" if said and said in (row.error or "") else said
    return (row.output_tail or "").strip()


def failure_text(row: CitizenSession) -> str:
    reason = esc(tail(row.error or "no reason recorded", SHOWN_FAILURE_CHARS))
    return f"❌ The <b>{esc(row.citizen)}</b> session failed: {reason}"
