"""Adding a schedule, as the API and `/schedule add` both do it: checked, then stored."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from citizens import cron
from citizens.config import CitizenSettings
from citizens.directory import citizen_dir, citizens_root, known_citizens
from storage.models import Schedule
from storage.repo import schedules

MAX_MESSAGE_CHARS = 4000


@dataclass(frozen=True)
class ScheduleRefused(Exception):
    """Why a schedule was refused: the field at fault and one sentence."""

    field: str
    reason: str

    def __str__(self) -> str:
        return self.reason


def check(settings: CitizenSettings, *, citizen: str, expression: str, message: str) -> str:
    """The normalized cron expression, once citizen, expression and message are valid."""
    root = citizens_root(settings)
    if citizen_dir(root, citizen) is None:
        names = ", ".join(known_citizens(root)) or "none found"
        raise ScheduleRefused("citizen", f"there is no citizen {citizen!r} (citizens: {names})")
    try:
        normalized = cron.normalize(expression)
    except cron.CronError as error:
        raise ScheduleRefused("cron", str(error)) from None
    if not message.strip():
        raise ScheduleRefused("message", "the message must not be blank")
    if len(message) > MAX_MESSAGE_CHARS:
        raise ScheduleRefused("message", f"the message is at most {MAX_MESSAGE_CHARS} characters")
    return normalized


async def add(
    *,
    session: AsyncSession,
    settings: CitizenSettings,
    citizen: str,
    expression: str,
    message: str,
    now: datetime,
) -> Schedule:
    """Store a schedule whose first time is the first one after `now`; ScheduleRefused if bad."""
    normalized = check(settings, citizen=citizen, expression=expression, message=message)
    return await schedules.create(
        session=session,
        citizen=citizen,
        cron=normalized,
        message=message.strip(),
        created_at=now,
        next_run_at=cron.next_after(normalized, now, settings.tz),
    )
