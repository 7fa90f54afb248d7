"""Past days' decisions, read from the database once per process.

A day's decided drafts do not change once the day is over: a decision is made once, an edit
comes before it, and the thread messages a wait is measured from came before the draft. So
/api/stats reads the drafts of closed days once and only today's on every request (sessions,
whose cost arrives when they end, and leads, which are marked sent later, are always read).
A day counts as closed SETTLE after its end, so a decision committed just after midnight is
not missed.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

SETTLE = timedelta(minutes=10)
MAX_DAYS = 4000
"""Days kept per engine (a few years in a few time zones); the least recently used go first."""


@dataclass(frozen=True)
class Day:
    """One closed day: outcome counts per citizen, and the waits before its approvals."""

    counts: dict[str, dict[str, int]]
    waits: list[float]


class DayCache:
    def __init__(self) -> None:
        self._days: OrderedDict[tuple[str, str], Day] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, zone: str, label: str) -> Day | None:
        with self._lock:
            day = self._days.get((zone, label))
            if day is not None:
                self._days.move_to_end((zone, label))
            return day

    def put(self, zone: str, label: str, day: Day) -> None:
        with self._lock:
            self._days[(zone, label)] = day
            self._days.move_to_end((zone, label))
            while len(self._days) > MAX_DAYS:
                self._days.popitem(last=False)


_CACHES: weakref.WeakKeyDictionary[Engine, DayCache] = weakref.WeakKeyDictionary()


def cache_for(engine: AsyncEngine) -> DayCache:
    """The cache of one database (one engine): another database never sees its days."""
    return _CACHES.setdefault(engine.sync_engine, DayCache())
