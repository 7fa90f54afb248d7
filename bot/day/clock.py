"""The operator's clock: `TIMEZONE` days and times, and the quiet-hours window."""

from __future__ import annotations

from datetime import datetime

from bot.settings import Settings


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
