"""Times and money as the operator reads them on a phone, one format everywhere: the bot's
cards, digest and charts and the citizens' session notices."""

from __future__ import annotations

from datetime import datetime

from storage.types import utcnow


def cost(usd: float) -> str:
    """`$1.25`, or four decimals under ten cents (`$0.0123`)."""
    return f"${usd:.2f}" if usd >= 0.1 else f"${usd:.4f}"


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
