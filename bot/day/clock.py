"""The operator's clock: `TIMEZONE` days and times, and the quiet-hours window."""

from __future__ import annotations

from datetime import datetime

from bot.settings import Settings
from storage.types import utcnow


def local(settings: Settings, moment: datetime) -> datetime:
    return moment.astimezone(settings.tz)


def in_quiet_hours(settings: Settings, moment: datetime) -> bool:
    """Inside `QUIET_HOURS` at `moment`; a window may wrap past midnight (22:00-07:00)."""
    window = settings.quiet_window
    if window is None:
        return False
    start, end = window
    now = local(settings, moment).time()
    if start <= end:
        return start <= now < end
    return now >= start or now < end


def waited(since: datetime, now: datetime | None = None) -> str:
    """`1 h 05 min`, `12 min`, `2 d 3 h`: how long someone has waited, for a phone screen."""
    minutes = max(0, int(((now or utcnow()) - since).total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min"
