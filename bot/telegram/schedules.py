"""/schedule: list, add and remove the schedules that queue citizen sessions (CONTRACT §10)."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from telegram import Update
from telegram.ext import ContextTypes

from bot.telegram.deps import deps
from bot.telegram.render import cut, esc
from citizens import schedules as adding
from citizens.schedules import ScheduleRefused
from storage.models import Schedule
from storage.repo import schedules
from storage.types import utcnow

# "/schedule add <citizen> <m h dom mon dow> <message>", the message verbatim (newlines too).
ADD = re.compile(r"^/\S+\s+add\s+(\S+)\s+((?:\S+\s+){4}\S+)\s+(.+)$", re.DOTALL | re.IGNORECASE)
REMOVE = re.compile(r"^/\S+\s+(?:rm|remove|delete)\s+#?(\d{1,18})\s*$", re.IGNORECASE)
LIST = re.compile(r"^/\S+(?:\s+list)?\s*$", re.IGNORECASE)
USAGE = (
    "Usage:\n"
    "/schedule — the schedules\n"
    "/schedule add &lt;citizen&gt; &lt;m h dom mon dow&gt; &lt;message&gt;\n"
    "/schedule rm &lt;id&gt;\n"
    "For example: <code>/schedule add emma 0 8 * * 1-5 Scan the new leads</code> "
    "(weekdays at 08:00)."
)


async def schedule_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/schedule [add … | rm <id>]: what is scheduled, or change it; else the usage."""
    message = update.effective_message
    assert message is not None
    text = (message.text or "").strip()
    if LIST.match(text):
        reply = await _list(context)
    elif match := ADD.match(text):
        reply = await _add(context, match.group(1), match.group(2), match.group(3))
    elif match := REMOVE.match(text):
        reply = await _remove(context, int(match.group(1)))
    else:
        reply = USAGE
    await message.reply_text(reply)


async def _list(context: ContextTypes.DEFAULT_TYPE) -> str:
    bot = deps(context)
    async with bot.db() as session:
        rows = await schedules.list_all(session=session)
    if not rows:
        return "No schedules yet.\n\n" + USAGE
    tz = bot.settings.tz
    lines = [f"🗓 <b>Schedules</b> (times in {esc(bot.settings.timezone)}):"]
    lines += [_line(row, tz) for row in rows[:30]]
    if len(rows) > 30:
        lines.append(f"… and {len(rows) - 30} more (GET /api/schedules lists them all).")
    return "\n".join(lines)


def _line(row: Schedule, tz: ZoneInfo) -> str:
    return (
        f"<b>#{row.id}</b> {esc(row.citizen)} · <code>{esc(row.cron)}</code> · next "
        f"{_when(row.next_run_at, tz)}\n   {esc(cut(row.message, 120))}"
    )


def _when(moment: datetime, tz: ZoneInfo) -> str:
    return f"{moment.astimezone(tz):%a %d %b %H:%M}"


async def _add(context: ContextTypes.DEFAULT_TYPE, citizen: str, cron: str, text: str) -> str:
    bot = deps(context)
    try:
        async with bot.db() as session, session.begin():
            row = await adding.add(
                session=session,
                settings=bot.settings,
                citizen=citizen,
                expression=cron,
                message=text,
                now=utcnow(),
            )
    except ScheduleRefused as refused:
        return f"⛔ Not scheduled: {esc(refused.reason)}.\n\n{USAGE}"
    return (
        f"✅ Schedule <b>#{row.id}</b>: <b>{esc(row.citizen)}</b> runs at "
        f"<code>{esc(row.cron)}</code> ({esc(bot.settings.timezone)}), next on "
        f"{_when(row.next_run_at, bot.settings.tz)}."
    )


async def _remove(context: ContextTypes.DEFAULT_TYPE, schedule_id: int) -> str:
    async with deps(context).db() as session, session.begin():
        removed = await schedules.remove(session=session, schedule_id=schedule_id)
    if not removed:
        return f"⛔ There is no schedule #{schedule_id}. /schedule lists them."
    return f"🗑 Schedule #{schedule_id} removed."
