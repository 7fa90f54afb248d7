"""The daily digest: what waits now, and how the day before went (CONTRACT §10)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from bot.telegram import render
from bot.telegram.render import esc, plural
from citizens import thread_notices
from citizens.figures import duration, waited
from storage.repo.inbox import Waiting
from storage.repo.stats import Stats
from storage.repo.thread_waits import ThreadWaiting

WAITING_SHOWN = 10


def digest_text(
    numbers: Stats,
    waiting: Sequence[Waiting],
    now: datetime,
    today: date,
    left: Sequence[ThreadWaiting] = (),
) -> str:
    """The digest of `today`, with `numbers` of the day before: storage/repo/stats.py's
    `of_day`, the numbers GET /api/stats gives that day (its definitions hold here); `left`:
    the clients who wait with no pending draft (CONTRACT §14)."""
    lines = [f"☀️ <b>Digest</b> · {today:%A %d %B}"]
    if left:
        lines += ["", f"<b>Clients waiting, no draft ({len(left)}):</b>"]
        for thread_left in left[:WAITING_SHOWN]:
            thread = thread_left.thread
            state = esc(thread_notices.waiting_state(thread_left.session, thread_left.draft))
            since = thread.waiting_since or now
            who = render.client_and_job(thread.client, thread.job_title, bold=False, limit=40)
            lines.append(f"• {who} — {waited(since, now)} ({state})")
        if len(left) > WAITING_SHOWN:
            lines.append(f"… and {len(left) - WAITING_SHOWN} more: /drafts")
    if waiting:
        lines += ["", f"<b>Waiting for you ({len(waiting)}):</b>"]
        for item in waiting[:WAITING_SHOWN]:
            draft, since = item.draft, item.waiting_since
            who = render.client_and_job(draft.client, draft.job_title, bold=False, limit=40)
            lines.append(f"• {who} — {waited(since, now)} (/draft {render.short_id(draft.id)})")
        if len(waiting) > WAITING_SHOWN:
            lines.append(f"… and {len(waiting) - WAITING_SHOWN} more: /drafts")
    elif not left:
        lines += ["", "Nothing waits for you. 🎉"]
    [drafts] = numbers["drafts_per_day"]
    [response] = numbers["response_time_per_day"]
    lines += ["", f"<b>Yesterday</b> ({date.fromisoformat(drafts['date']):%a %d %b}):"]
    lines.append(
        f"Drafts: {drafts['approved']} approved ({drafts['edited']} edited), "
        f"{drafts['rejected']} rejected, {drafts['redrafted']} redrafted, "
        f"{drafts['superseded']} superseded, {drafts['sent']} sent"
    )
    median = response["median_s"]
    lines.append(
        "Median time from a client's message to the approved reply: "
        + (duration(median) if median is not None else "no approvals")
    )
    sessions = [row for row in numbers["citizens"] if row["sessions"]]
    lines.append(
        "Sessions: "
        + (
            ", ".join(
                f"{esc(row['citizen'])}: {plural(row['sessions'], 'session')} "
                f"(${row['cost_usd']:.2f})"
                for row in sessions
            )
            or "none"
        )
    )
    leads = numbers["leads"]
    lines.append(
        f"Leads: {leads['go']} GO, {leads['no_go']} NO-GO, "
        f"{plural(leads['sent'], 'proposal')} sent"
    )
    return "\n".join(lines)
