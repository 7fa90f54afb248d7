"""The operator's numbers over the last N days (GET /api/stats, /stats, the charts).

Every number is aggregated in the database, over indexed time ranges of the window only;
closed days' decided drafts are read once per process (storage/repo/stats_cache.py).
A "day" below is [local midnight, next local midnight) in TIMEZONE; the window is the last
`days` days, today included. Definitions, per day (by the time named) or per citizen (window):

- approved: drafts approved that day (`decided_at`), whatever followed (status `approved` or
  `sent`). edited: those of them with an `edit` feedback. approved_as_is: approved, no `edit`.
- rejected: drafts rejected that day (`decided_at`).
- redrafted: drafts superseded that day (`decided_at`) with a `redraft` feedback (the operator
  asked for another version). superseded: drafts superseded that day without one (the client
  wrote again before a decision). Every supersede sets `decided_at` to its moment, the time of
  its `draft.superseded@1.0`.
- sent: drafts whose reply reached the client that day (`sent_at`).
- response time (`median_s`, `p90_s`, per approval day; null without approvals): for each
  approved draft, `decided_at` minus the start of the wait: its thread's earliest client
  message that was not answered (no reply after it) before the draft was created; the draft's
  `created_at` when it has no thread or no such message. Percentiles interpolate linearly
  (PostgreSQL's percentile_cont). Seconds, to one decimal.
- sessions, cost_usd (per citizen; cost_per_day per day and citizen): citizen sessions
  started in the window (`started_at`) and the sum of their `cost_usd` (unknown cost: 0).
  cost_per_day lists only the (day, citizen) pairs that had a session.
- leads (tracked in the window, `created_at`): tracked, go, no_go; proposal_drafted: GO leads
  with at least one draft carrying their `lead_id`; sent: GO leads marked sent.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypedDict
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    and_,
    case,
    exists,
    func,
    literal,
    not_,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from storage.models import CitizenSession, Draft, DraftFeedback, Lead, ThreadMessage
from storage.repo import stats_cache
from storage.repo.local_days import Window, day_bounds, day_key
from storage.types import UTCDateTime

D = Draft.__table__.c
F = DraftFeedback.__table__.c
S = CitizenSession.__table__.c
L = Lead.__table__.c
APPROVED = ("approved", "sent")
OUTCOMES = ("approved", "edited", "rejected", "redrafted", "superseded")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class DraftsDay(TypedDict):
    date: str
    approved: int
    edited: int
    rejected: int
    redrafted: int
    superseded: int
    sent: int


class ResponseDay(TypedDict):
    date: str
    median_s: float | None
    p90_s: float | None


class CitizenRow(TypedDict):
    citizen: str
    approved_as_is: int
    edited: int
    rejected: int
    redrafted: int
    sessions: int
    cost_usd: float


class CostDay(TypedDict):
    date: str
    citizen: str
    cost_usd: float


class LeadFunnel(TypedDict):
    tracked: int
    go: int
    no_go: int
    proposal_drafted: int
    sent: int


class Stats(TypedDict):
    days: int
    drafts_per_day: list[DraftsDay]
    response_time_per_day: list[ResponseDay]
    citizens: list[CitizenRow]
    cost_per_day: list[CostDay]
    leads: LeadFunnel


@dataclass(frozen=True)
class Decisions:
    counts: dict[tuple[str, str], dict[str, int]]
    """Outcome counts per (day, citizen)."""
    waits: dict[str, list[float]]
    """Seconds from the client's message to each approval, per day."""


async def compute(*, session: AsyncSession, days: int, tz: ZoneInfo, now: datetime) -> Stats:
    bounds = day_bounds(days, tz, now)
    assert session.bind is not None
    postgres = session.bind.dialect.name == "postgresql"
    window = Window(
        labels=[day.isoformat() for day, _, _ in bounds],
        start=bounds[0][1],
        end=bounds[-1][2],
        tz=tz,
        postgres=postgres,
    )
    if postgres:
        # Row estimates are small here; JIT-compiling these statements costs more than it saves.
        await session.execute(text("SET LOCAL jit = off"))
    decisions = await _cached_decisions(session, window, bounds, now)
    sessions = await _sessions(session, window)
    return {
        "days": days,
        "drafts_per_day": _drafts_per_day(window, decisions.counts, await _sent(session, window)),
        "response_time_per_day": _response_times(window, decisions.waits),
        "citizens": _citizens(decisions.counts, sessions),
        "cost_per_day": _cost_per_day(sessions),
        "leads": await _leads(session, window.start, window.end),
    }


async def of_day(*, session: AsyncSession, day: date, tz: ZoneInfo) -> Stats:
    """The numbers of local day `day` alone (the digest's day before): `compute` over a
    window of that one day, as GET /api/stats would answer on its last instant."""
    next_midnight = datetime.combine(day + timedelta(days=1), time(), tzinfo=tz)
    last_instant = next_midnight.astimezone(UTC) - timedelta(microseconds=1)
    return await compute(session=session, days=1, tz=tz, now=last_instant)


async def _cached_decisions(
    session: AsyncSession,
    window: Window,
    bounds: list[tuple[date, datetime, datetime]],
    now: datetime,
) -> Decisions:
    """The window's decisions: closed days from the cache (stats_cache), the rest from SQL."""
    bind = session.bind
    cache = stats_cache.cache_for(bind) if isinstance(bind, AsyncEngine) else None
    zone = window.tz.key
    cached = [cache.get(zone, label) if cache else None for label in window.labels]
    first = next((i for i, day in enumerate(cached) if day is None), len(cached))
    fresh = Decisions({}, {})
    if first < len(cached):
        rest = replace(window, labels=window.labels[first:], start=bounds[first][1])
        fresh = await _decisions(session, rest)
        for label, (_, _, end) in zip(rest.labels, bounds[first:], strict=True):
            if cache is not None and end + stats_cache.SETTLE <= now:
                by_citizen = {c: n for (day, c), n in fresh.counts.items() if day == label}
                cache.put(zone, label, stats_cache.Day(by_citizen, fresh.waits.get(label, [])))
    counts = dict(fresh.counts)
    waits = dict(fresh.waits)
    for label, day in zip(window.labels[:first], cached[:first], strict=True):
        assert day is not None
        counts.update({(label, citizen): n for citizen, n in day.counts.items()})
        waits[label] = day.waits
    return Decisions(counts, waits)


def _has_feedback(kind: str) -> ColumnElement[bool]:
    # A scalar probe rather than EXISTS: PostgreSQL would hash the whole feedback table for
    # an EXISTS, however few drafts the range holds; this is one index lookup per draft.
    probe = (
        select(literal(1))
        .where(F.draft_id == D.id, F.kind == kind)
        .limit(1)
        .correlate_except(DraftFeedback.__table__)
        .scalar_subquery()
    )
    return probe.is_not(None)


def _count(condition: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _outcomes() -> dict[str, Any]:
    approved = D.status.in_(APPROVED)
    superseded = D.status == "superseded"
    return {
        "approved": _count(approved),
        "edited": _count(and_(approved, _has_feedback("edit"))),
        "rejected": _count(D.status == "rejected"),
        "redrafted": _count(and_(superseded, _has_feedback("redraft"))),
        "superseded": _count(and_(superseded, not_(_has_feedback("redraft")))),
    }


async def _decisions(session: AsyncSession, window: Window) -> Decisions:
    """Decided drafts counted by outcome per (local day, citizen), and the waits before each
    approval per local day, in one pass over the drafts decided in the window."""
    outcomes = _outcomes()
    day = window.day(D.decided_at)
    approved = D.status.in_(APPROVED)
    # The CASE keeps the wait's subqueries to approved drafts.
    wait = case(
        (approved, _seconds_between(_wait_start(), D.decided_at, window.postgres)), else_=None
    )
    waits = (func.array_agg(wait) if window.postgres else func.group_concat(wait)).filter(approved)
    query = (
        select(day, D.citizen, waits, *(outcomes[k].label(k) for k in OUTCOMES))
        .where(window.covers(D.decided_at))
        .group_by(day, D.citizen)
    )
    counts: dict[tuple[str, str], dict[str, int]] = {}
    samples: dict[str, list[float]] = {}
    for key, citizen, seconds, *numbers in (await session.execute(query)).all():
        label = day_key(key)
        counts[(label, citizen)] = dict(zip(OUTCOMES, (int(n) for n in numbers), strict=True))
        if isinstance(seconds, str):  # SQLite's group_concat
            seconds = seconds.split(",")
        samples.setdefault(label, []).extend(float(value) for value in seconds or ())
    return Decisions(counts, samples)


async def _sessions(session: AsyncSession, window: Window) -> dict[tuple[str, str], Any]:
    """Sessions started and their cost, per (local day, citizen)."""
    day = window.day(S.started_at)
    query = (
        select(day, S.citizen, func.count(), func.coalesce(func.sum(S.cost_usd), 0.0))
        .where(window.covers(S.started_at))
        .group_by(day, S.citizen)
    )
    return {
        (day_key(key), citizen): (int(count), float(cost))
        for key, citizen, count, cost in (await session.execute(query)).all()
    }


async def _sent(session: AsyncSession, window: Window) -> dict[str, int]:
    day = window.day(D.sent_at)
    query = select(day, func.count()).where(window.covers(D.sent_at)).group_by(day)
    return {day_key(key): int(n) for key, n in (await session.execute(query)).all()}


def _drafts_per_day(
    window: Window, decisions: dict[tuple[str, str], Any], sent: dict[str, int]
) -> list[DraftsDay]:
    totals = {label: dict.fromkeys(OUTCOMES, 0) for label in window.labels}
    for (label, _citizen), counts in decisions.items():
        for kind in OUTCOMES:
            totals[label][kind] += counts[kind]
    return [
        DraftsDay(
            date=label,
            approved=totals[label]["approved"],
            edited=totals[label]["edited"],
            rejected=totals[label]["rejected"],
            redrafted=totals[label]["redrafted"],
            superseded=totals[label]["superseded"],
            sent=sent.get(label, 0),
        )
        for label in window.labels
    ]


def _citizens(
    decisions: dict[tuple[str, str], Any], sessions: dict[tuple[str, str], tuple[int, float]]
) -> list[CitizenRow]:
    rows: dict[str, CitizenRow] = {}

    def row(name: str) -> CitizenRow:
        empty = CitizenRow(
            citizen=name,
            approved_as_is=0,
            edited=0,
            rejected=0,
            redrafted=0,
            sessions=0,
            cost_usd=0.0,
        )
        return rows.setdefault(name, empty)

    for (_day, name), counts in decisions.items():
        entry = row(name)
        entry["approved_as_is"] += counts["approved"] - counts["edited"]
        entry["edited"] += counts["edited"]
        entry["rejected"] += counts["rejected"]
        entry["redrafted"] += counts["redrafted"]
    for (_day, name), (count, cost) in sessions.items():
        entry = row(name)
        entry["sessions"] += count
        entry["cost_usd"] += cost
    for entry in rows.values():
        entry["cost_usd"] = round(entry["cost_usd"], 4)
    return [rows[name] for name in sorted(rows)]


def _cost_per_day(sessions: dict[tuple[str, str], tuple[int, float]]) -> list[CostDay]:
    return [
        CostDay(date=label, citizen=citizen, cost_usd=round(cost, 4))
        for (label, citizen), (_count, cost) in sorted(sessions.items())
    ]


def _wait_start() -> Any:
    """When the client began waiting for this draft (see the module's definition).

    The earliest client message not answered before the draft was written is the earliest one
    at or after the thread's last reply before the draft: two probes of one index per draft.
    """
    m = ThreadMessage.__table__.alias("m")
    o = ThreadMessage.__table__.alias("o")
    # Correlated to the draft explicitly: SQLAlchemy would correlate a subquery nested in
    # another only to its nearest enclosing query, and join every draft into it.
    last_reply = (
        select(func.max(o.c.at))
        .where(o.c.thread_id == D.thread_id, o.c.direction == "out", o.c.at <= D.created_at)
        .correlate_except(o)
        .scalar_subquery()
    )
    first_unanswered = (
        select(func.min(m.c.at))
        .where(
            m.c.thread_id == D.thread_id,
            m.c.direction == "in",
            m.c.at <= D.created_at,
            m.c.at >= func.coalesce(last_reply, literal(EPOCH, UTCDateTime())),
        )
        .correlate_except(m)
        .scalar_subquery()
    )
    return func.coalesce(first_unanswered, D.created_at)


def _seconds_between(start: Any, end: Any, postgres: bool) -> Any:
    if postgres:
        return func.extract("epoch", end - start)
    return (func.julianday(end) - func.julianday(start)) * 86400.0


def _response_times(window: Window, samples: dict[str, list[float]]) -> list[ResponseDay]:
    out: list[ResponseDay] = []
    for label in window.labels:
        values = sorted(samples.get(label, ()))
        median = percentile_cont(values, 0.5) if values else None
        p90 = percentile_cont(values, 0.9) if values else None
        out.append(ResponseDay(date=label, median_s=_round(median), p90_s=_round(p90)))
    return out


def percentile_cont(ordered: list[float], fraction: float) -> float:
    """The linearly interpolated percentile of sorted values, as PostgreSQL computes it."""
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _round(value: Any) -> float | None:
    return None if value is None else round(max(float(value), 0.0), 1)


async def _leads(session: AsyncSession, start: datetime, end: datetime) -> LeadFunnel:
    go = L.decision == "GO"
    drafted = exists().where(D.lead_id == L.id)
    query = select(
        func.count(),
        _count(go),
        _count(L.decision == "NO-GO"),
        _count(and_(go, drafted)),
        _count(and_(go, L.sent.is_(True))),
    ).where(L.created_at >= start, L.created_at < end)
    tracked, go_n, no_go, proposals, sent = (await session.execute(query)).one()
    return LeadFunnel(
        tracked=int(tracked),
        go=int(go_n),
        no_go=int(no_go),
        proposal_drafted=int(proposals),
        sent=int(sent),
    )
