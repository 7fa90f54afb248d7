"""The operator's numbers over the last N days (GET /api/stats, /stats, the charts).

Every number is aggregated in the database, over indexed time ranges; only the day boundaries
are computed here, because a day is a day in TIMEZONE (DST included) and SQLite knows no zones.
A "day" below is [local midnight, next local midnight) in TIMEZONE; the window is the last
`days` days, today included. Definitions, per day (by the time named) or per citizen (window):

- approved: drafts approved that day (`decided_at`), whatever followed (status `approved` or
  `sent`). edited: those of them with an `edit` feedback. approved_as_is: approved, no `edit`.
- rejected: drafts rejected that day (`decided_at`).
- redrafted: drafts superseded that day (`decided_at`) with a `redraft` feedback (the operator
  asked for another version). superseded: drafts superseded that day without one (the client
  wrote again before a decision).
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
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Select

from storage.models import CitizenSession, Draft, DraftFeedback, Lead, ThreadMessage
from storage.types import UTCDateTime

D = Draft.__table__.c
F = DraftFeedback.__table__.c
S = CitizenSession.__table__.c
L = Lead.__table__.c
APPROVED = ("approved", "sent")


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


async def compute(*, session: AsyncSession, days: int, tz: ZoneInfo, now: datetime) -> Stats:
    bounds = day_bounds(days, tz, now)
    labels = [day.isoformat() for day, _, _ in bounds]
    start, end = bounds[0][1], bounds[-1][2]
    table = _day_table(bounds)
    postgres = session.bind.dialect.name == "postgresql"
    return {
        "days": days,
        "drafts_per_day": await _drafts_per_day(session, table, labels),
        "response_time_per_day": await _response_times(session, table, labels, postgres),
        "citizens": await _citizens(session, start, end),
        "cost_per_day": await _cost_per_day(session, table, labels),
        "leads": await _leads(session, start, end),
    }


def _day_table(bounds: list[tuple[date, datetime, datetime]]) -> Any:
    """The days as a derived table (i, lo, hi), joined to rows by an indexed time range."""
    rows = [
        select(
            literal(i).label("i"),
            literal(lo, UTCDateTime()).label("lo"),
            literal(hi, UTCDateTime()).label("hi"),
        )
        for i, (_, lo, hi) in enumerate(bounds)
    ]
    return (union_all(*rows) if len(rows) > 1 else rows[0]).subquery("days")


def _has_feedback(kind: str) -> ColumnElement[bool]:
    return exists().where(F.draft_id == D.id, F.kind == kind)


def _count(condition: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _outcomes() -> dict[str, Any]:
    approved = D.status.in_(APPROVED)
    superseded = D.status == "superseded"
    return {
        "approved": _count(approved),
        "edited": _count(and_(approved, _has_feedback("edit"))),
        "approved_as_is": _count(and_(approved, not_(_has_feedback("edit")))),
        "rejected": _count(D.status == "rejected"),
        "redrafted": _count(and_(superseded, _has_feedback("redraft"))),
        "superseded": _count(and_(superseded, not_(_has_feedback("redraft")))),
    }


def _in_day(column: Any, table: Any) -> ColumnElement[bool]:
    return and_(column >= table.c.lo, column < table.c.hi)


async def _drafts_per_day(session: AsyncSession, table: Any, labels: list[str]) -> list[DraftsDay]:
    kinds = ("approved", "edited", "rejected", "redrafted", "superseded")
    outcomes = _outcomes()
    decided: Select[Any] = (
        select(table.c.i, *(outcomes[k].label(k) for k in kinds))
        .select_from(table.join(Draft.__table__, _in_day(D.decided_at, table)))
        .group_by(table.c.i)
    )
    sent: Select[Any] = (
        select(table.c.i, func.count())
        .select_from(table.join(Draft.__table__, _in_day(D.sent_at, table)))
        .group_by(table.c.i)
    )
    by_day = {row[0]: row[1:] for row in (await session.execute(decided)).all()}
    sent_by_day = {i: n for i, n in (await session.execute(sent)).all()}
    out: list[DraftsDay] = []
    for i, label in enumerate(labels):
        counts = [int(n) for n in by_day.get(i, (0,) * len(kinds))]
        entry = dict(zip(kinds, counts, strict=True))
        out.append(
            DraftsDay(
                date=label,
                approved=entry["approved"],
                edited=entry["edited"],
                rejected=entry["rejected"],
                redrafted=entry["redrafted"],
                superseded=entry["superseded"],
                sent=int(sent_by_day.get(i, 0)),
            )
        )
    return out


def _wait_start() -> Any:
    """When the client began waiting for this draft (see the module's definition)."""
    m = ThreadMessage.__table__.alias("m")
    o = ThreadMessage.__table__.alias("o")
    answered = exists().where(
        o.c.thread_id == m.c.thread_id,
        o.c.direction == "out",
        o.c.at > m.c.at,
        o.c.at <= D.created_at,
    )
    first_unanswered = (
        select(func.min(m.c.at))
        .where(
            m.c.thread_id == D.thread_id,
            m.c.direction == "in",
            m.c.at <= D.created_at,
            not_(answered),
        )
        .scalar_subquery()
    )
    return func.coalesce(first_unanswered, D.created_at)


def _seconds_between(start: Any, end: Any, postgres: bool) -> Any:
    if postgres:
        return func.extract("epoch", end - start)
    return (func.julianday(end) - func.julianday(start)) * 86400.0


async def _response_times(
    session: AsyncSession, table: Any, labels: list[str], postgres: bool
) -> list[ResponseDay]:
    seconds = _seconds_between(_wait_start(), D.decided_at, postgres)
    joined = table.join(
        Draft.__table__, and_(_in_day(D.decided_at, table), D.status.in_(APPROVED))
    )
    found: dict[int, tuple[float | None, float | None]] = {}
    if postgres:
        query = (
            select(
                table.c.i,
                func.percentile_cont(0.5).within_group(seconds),
                func.percentile_cont(0.9).within_group(seconds),
            )
            .select_from(joined)
            .group_by(table.c.i)
        )
        for i, median, p90 in (await session.execute(query)).all():
            found[i] = (median, p90)
    else:
        samples: dict[int, list[float]] = {}
        for i, value in (
            await session.execute(select(table.c.i, seconds).select_from(joined))
        ).all():
            samples.setdefault(i, []).append(float(value))
        for i, values in samples.items():
            values.sort()
            found[i] = (percentile_cont(values, 0.5), percentile_cont(values, 0.9))
    return [
        ResponseDay(
            date=label,
            median_s=_round(found.get(i, (None, None))[0]),
            p90_s=_round(found.get(i, (None, None))[1]),
        )
        for i, label in enumerate(labels)
    ]


def percentile_cont(ordered: list[float], fraction: float) -> float:
    """The linearly interpolated percentile of sorted values, as PostgreSQL computes it."""
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _round(value: Any) -> float | None:
    return None if value is None else round(max(float(value), 0.0), 1)


async def _citizens(session: AsyncSession, start: datetime, end: datetime) -> list[CitizenRow]:
    kinds = ("approved_as_is", "edited", "rejected", "redrafted")
    outcomes = _outcomes()
    drafts = (
        select(D.citizen, *(outcomes[k] for k in kinds))
        .where(D.decided_at >= start, D.decided_at < end)
        .group_by(D.citizen)
    )
    sessions = (
        select(S.citizen, func.count(), func.coalesce(func.sum(S.cost_usd), 0.0))
        .where(S.started_at >= start, S.started_at < end)
        .group_by(S.citizen)
    )
    by_citizen: dict[str, CitizenRow] = {}

    def row(name: str) -> CitizenRow:
        return by_citizen.setdefault(
            name,
            CitizenRow(
                citizen=name,
                approved_as_is=0,
                edited=0,
                rejected=0,
                redrafted=0,
                sessions=0,
                cost_usd=0.0,
            ),
        )

    for name, as_is, edited, rejected, redrafted in (await session.execute(drafts)).all():
        entry = row(name)
        entry["approved_as_is"], entry["edited"] = int(as_is), int(edited)
        entry["rejected"], entry["redrafted"] = int(rejected), int(redrafted)
    for name, count, cost in (await session.execute(sessions)).all():
        entry = row(name)
        entry["sessions"], entry["cost_usd"] = int(count), round(float(cost), 4)
    return [by_citizen[name] for name in sorted(by_citizen)]


async def _cost_per_day(session: AsyncSession, table: Any, labels: list[str]) -> list[CostDay]:
    query = (
        select(table.c.i, S.citizen, func.coalesce(func.sum(S.cost_usd), 0.0))
        .select_from(table.join(CitizenSession.__table__, _in_day(S.started_at, table)))
        .group_by(table.c.i, S.citizen)
        .order_by(table.c.i, S.citizen)
    )
    return [
        CostDay(date=labels[i], citizen=citizen, cost_usd=round(float(cost), 4))
        for i, citizen, cost in (await session.execute(query)).all()
    ]


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
