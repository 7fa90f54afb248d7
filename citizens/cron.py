"""Cron expressions (five fields: minute hour day-of-month month day-of-week), read by cronsim
and evaluated in the operator's TIMEZONE."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from cronsim import CronSim, CronSimError

FIELDS = 5
MAX_LENGTH = 100
CATCH_UP = timedelta(hours=1)
"""A time missed (the service was down) still fires if it is less than this old."""


class CronError(ValueError):
    """Why an expression is refused, as one short sentence."""


def normalize(expression: str) -> str:
    """The expression with single spaces, once it is valid; CronError saying why not."""
    fields = expression.split()
    if len(fields) != FIELDS:
        raise CronError(
            f"a cron expression has {FIELDS} fields (minute hour day month weekday), "
            f"not {len(fields)}"
        )
    text = " ".join(fields)
    if len(text) > MAX_LENGTH:
        raise CronError(f"a cron expression is at most {MAX_LENGTH} characters")
    try:
        CronSim(text, datetime(2000, 1, 1, tzinfo=UTC))
    except CronSimError as error:
        raise CronError(f"{str(error).rstrip('.').lower()} in {text!r}") from None
    return text


def next_after(expression: str, moment: datetime, tz: ZoneInfo) -> datetime:
    """The first time strictly after `moment` that `expression` names in `tz`, in UTC."""
    found: datetime = next(CronSim(expression, moment.astimezone(tz)))
    return found.astimezone(UTC)


def due_time(
    expression: str, next_run_at: datetime, now: datetime, tz: ZoneInfo
) -> datetime | None:
    """The time a due schedule fires for now, or None when every missed time is too old.

    `next_run_at` (<= now) is the first time not fired yet. Of the times missed since, only
    the latest one less than CATCH_UP old fires, once.
    """
    horizon = now - CATCH_UP
    latest = next_run_at if next_run_at > horizon else None
    moment = max(next_run_at, horizon)
    while (candidate := next_after(expression, moment, tz)) <= now:
        latest, moment = candidate, candidate
    return latest
