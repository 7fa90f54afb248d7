"""Local days in SQL: the last N days of TIMEZONE, and how a query finds a timestamp's day.

PostgreSQL knows the zones (`timezone(zone, t)::date`); SQLite does not, so there a day is
found from the UTC offset in force at that instant, the window's DST changes spelled out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Date, and_, case, cast, func


def day_bounds(days: int, tz: ZoneInfo, now: datetime) -> list[tuple[date, datetime, datetime]]:
    """The last `days` local days, oldest first: (date, start, end) with UTC start and end."""
    today = now.astimezone(tz).date()

    def midnight(day: date) -> datetime:
        return datetime.combine(day, time(), tzinfo=tz).astimezone(UTC)

    first = today - timedelta(days=days - 1)
    return [
        (day, midnight(day), midnight(day + timedelta(days=1)))
        for day in (first + timedelta(days=i) for i in range(days))
    ]


@dataclass(frozen=True)
class Window:
    """The last N local days: their labels, the UTC range they cover, and how SQL finds the
    local day of a timestamp (PostgreSQL with its zone database; SQLite, which has none, by
    the UTC offset in force at that instant, the DST changes of the window spelled out)."""

    labels: list[str]
    start: datetime
    end: datetime
    tz: ZoneInfo
    postgres: bool

    def covers(self, column: Any) -> ColumnElement[bool]:
        return and_(column >= self.start, column < self.end)

    def day(self, column: Any) -> Any:
        if self.postgres:
            return cast(func.timezone(self.tz.key, column), Date)
        pieces = _offsets(self.tz, self.start, self.end)
        if len(pieces) == 1:
            return func.date(column, pieces[0][1])
        whens = [(column < until, offset) for until, offset in pieces[:-1]]
        return func.date(column, case(*whens, else_=pieces[-1][1]))


def _offsets(tz: ZoneInfo, start: datetime, end: datetime) -> list[tuple[datetime, str]]:
    """(until, SQLite modifier) for each stretch of one UTC offset between start and end."""

    def modifier(moment: datetime) -> str:
        offset = moment.astimezone(tz).utcoffset() or timedelta()
        return f"{int(offset.total_seconds() // 60):+d} minutes"

    pieces: list[tuple[datetime, str]] = []
    current, moment = modifier(start), start
    while moment < end:
        following = min(moment + timedelta(hours=6), end)
        if modifier(following - timedelta(microseconds=1)) != current:
            low, high = moment, following  # the change lies in (low, high]: narrow it
            while high - low > timedelta(microseconds=1):
                middle = low + (high - low) / 2
                low, high = (middle, high) if modifier(middle) == current else (low, middle)
            pieces.append((high, current))
            current, following = modifier(high), high
        moment = following
    pieces.append((end, current))
    return pieces


def day_key(value: Any) -> str:
    """A day as SQL answers it (a date, or SQLite's text) in ISO form."""
    return value.isoformat() if isinstance(value, date) else str(value)
