"""The daily digest: what waits now, and how the day before went (CONTRACT §10)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from bot.day.clock import day_bounds, waited
from bot.settings import Settings
from bot.telegram.render import esc
from citizens import thread_notices
from storage.models import CitizenSession, Draft, Event, Lead, Thread, ThreadMessage
from storage.repo.thread_waits import Waiting

OUTCOMES = {
    "draft.created@1.0": "created",
    "draft.approved@1.0": "approved",
    "draft.edited@1.0": "edited",
    "draft.rejected@1.0": "rejected",
    "draft.redraft_requested@1.0": "redrafted",
    "draft.superseded@1.0": "superseded",
    "draft.sent@1.0": "sent",
}
WAITING_SHOWN = 10


@dataclass
class DayNumbers:
    day: date
    outcomes: dict[str, int] = field(default_factory=dict)
    response_times_s: list[float] = field(default_factory=list)
    sessions: list[tuple[str, int, float]] = field(default_factory=list)
    """(citizen, sessions started, their cost in USD), by citizen."""
    leads_go: int = 0
    leads_no_go: int = 0
    leads_sent: int = 0

    @property
    def median_response_s(self) -> float | None:
        return statistics.median(self.response_times_s) if self.response_times_s else None


async def waiting_drafts(*, session: AsyncSession) -> Sequence[tuple[Draft, datetime]]:
    """Pending drafts, the longest-waiting client first, with when the client started waiting."""
    since = func.coalesce(col(Thread.waiting_since), col(Draft.created_at))
    rows = await session.execute(
        select(Draft, since)
        .outerjoin(Thread, col(Thread.id) == col(Draft.thread_id))
        .where(col(Draft.status) == "pending")
        .order_by(since, col(Draft.id))
    )
    return [(draft, moment) for draft, moment in rows.all()]


async def day_numbers(*, session: AsyncSession, settings: Settings, day: date) -> DayNumbers:
    start, end = day_bounds(settings, day)
    numbers = DayNumbers(day)
    in_day = (col(Event.timestamp) >= start, col(Event.timestamp) < end)
    counted = await session.execute(
        select(col(Event.event), func.count())
        .where(*in_day, col(Event.event).in_(list(OUTCOMES)))
        .group_by(col(Event.event))
    )
    numbers.outcomes = {OUTCOMES[name]: count for name, count in counted.all()}
    numbers.response_times_s = await _response_times(session, start, end)
    sessions = await session.execute(
        select(
            col(CitizenSession.citizen),
            func.count(),
            func.coalesce(func.sum(col(CitizenSession.cost_usd)), 0.0),
        )
        .where(col(CitizenSession.started_at) >= start, col(CitizenSession.started_at) < end)
        .group_by(col(CitizenSession.citizen))
        .order_by(col(CitizenSession.citizen))
    )
    numbers.sessions = [(c, int(n), float(cost or 0)) for c, n, cost in sessions.all()]
    decisions = await session.execute(
        select(col(Lead.decision), func.count())
        .where(col(Lead.created_at) >= start, col(Lead.created_at) < end)
        .group_by(col(Lead.decision))
    )
    by_decision: dict[str, int] = {d: int(n) for d, n in decisions.all()}
    numbers.leads_go, numbers.leads_no_go = by_decision.get("GO", 0), by_decision.get("NO-GO", 0)
    numbers.leads_sent = int(
        await session.scalar(
            select(func.count()).where(*in_day, col(Event.event) == "lead.sent@1.0")
        )
        or 0
    )
    return numbers


async def _response_times(session: AsyncSession, start: datetime, end: datetime) -> list[float]:
    """For drafts approved in [start, end): approval minus the client message it answers (the
    thread's latest client message before the draft, else the draft's creation)."""
    answered = (
        select(func.max(col(ThreadMessage.at)))
        .where(
            col(ThreadMessage.thread_id) == col(Draft.thread_id),
            col(ThreadMessage.direction) == "in",
            col(ThreadMessage.at) <= col(Draft.created_at),
        )
        .scalar_subquery()
    )
    rows = await session.execute(
        select(col(Draft.decided_at), func.coalesce(answered, col(Draft.created_at))).where(
            col(Draft.decided_at) >= start,
            col(Draft.decided_at) < end,
            col(Draft.status).in_(("approved", "sent")),
        )
    )
    return [
        (decided - asked).total_seconds()
        for decided, asked in rows.all()
        if decided is not None and asked is not None
    ]


def digest_text(
    numbers: DayNumbers,
    waiting: Sequence[tuple[Draft, datetime]],
    now: datetime,
    today: date,
    left: Sequence[Waiting] = (),
) -> str:
    """The digest of `today`, with `numbers` of the day before; `left`: the clients who wait
    with no pending draft."""
    lines = [f"☀️ <b>Digest</b> · {today:%A %d %B}"]
    if left:
        lines += ["", f"<b>Clients waiting, no draft ({len(left)}):</b>"]
        for item in left[:WAITING_SHOWN]:
            job = f" · {esc(item.thread.job_title)}" if item.thread.job_title else ""
            state = esc(thread_notices.waiting_state(item.session, item.draft))
            since = item.thread.waiting_since or now
            lines.append(f"• {esc(item.thread.client)}{job} — {waited(since, now)} ({state})")
        if len(left) > WAITING_SHOWN:
            lines.append(f"… and {len(left) - WAITING_SHOWN} more: /drafts")
    if waiting:
        lines += ["", f"<b>Waiting for you ({len(waiting)}):</b>"]
        for draft, since in waiting[:WAITING_SHOWN]:
            lines.append(
                f"• {esc(draft.client)} · {esc(draft.job_title)} — {waited(since, now)} "
                f"(/draft {esc(draft.id)})"
            )
        if len(waiting) > WAITING_SHOWN:
            lines.append(f"… and {len(waiting) - WAITING_SHOWN} more: /drafts")
    elif not left:
        lines += ["", "Nothing waits for you. 🎉"]
    lines += ["", f"<b>Yesterday</b> ({numbers.day:%a %d %b}):"]
    outcomes = numbers.outcomes
    lines.append(
        "Drafts: "
        + ", ".join(
            f"{outcomes.get(key, 0)} {key}"
            for key in ("created", "approved", "edited", "rejected", "redrafted", "sent")
        )
    )
    median = numbers.median_response_s
    lines.append(
        "Median time from a client's message to the approved reply: "
        + (waited_seconds(median) if median is not None else "no approvals")
    )
    if numbers.sessions:
        lines.append(
            "Sessions: "
            + ", ".join(f"{esc(c)} {n} (${cost:.2f})" for c, n, cost in numbers.sessions)
        )
    else:
        lines.append("Sessions: none")
    lines.append(
        f"Leads: {numbers.leads_go} GO, {numbers.leads_no_go} NO-GO, "
        f"{numbers.leads_sent} proposals sent"
    )
    return "\n".join(lines)


def waited_seconds(seconds: float) -> str:
    minutes = int(seconds // 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"
