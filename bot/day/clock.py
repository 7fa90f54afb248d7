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
    """`1 h 05 min`, `12 min`, `2 d 3 h`: how long someone has waited, in whole minutes."""
    minutes = max(0, int(((now or utcnow()) - since).total_seconds() // 60))
    return _long(minutes) if minutes >= 60 else f"{minutes} min"


def duration(seconds: float | None) -> str:
    """A measured time for a phone screen, as precise as it is useful: `40 s`, `1 min 33 s`
    (under 10 minutes), `12 min`, `1 h 05 min`, `2 d 3 h`; a dash when unknown."""
    if seconds is None:
        return "–"
    whole = int(max(0.0, seconds) + 0.5)  # half a second up: a p90 of 92.5 s is 1 min 33 s
    if whole < 60:
        return f"{whole} s"
    if whole < 600:
        return f"{whole // 60} min {whole % 60:02d} s"
    minutes = int(whole / 60 + 0.5)
    return _long(minutes) if minutes >= 60 else f"{minutes} min"


def _long(minutes: int) -> str:
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    return f"{hours} h {minutes:02d} min"
