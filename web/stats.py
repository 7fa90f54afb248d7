"""`GET /api/stats`: the operator's numbers over the last N days (storage.repo.stats defines
each one)."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, Field

from storage.repo import stats
from storage.types import utcnow
from web.endpoints import Endpoint, json_response
from web.keys import DB, SETTINGS
from web.schemas import Query


class StatsQuery(Query):
    days: int = Field(default=30, ge=1, le=365)


class DraftsDayOut(BaseModel):
    date: str
    approved: int
    edited: int
    rejected: int
    redrafted: int
    superseded: int
    sent: int


class ResponseDayOut(BaseModel):
    date: str
    median_s: float | None
    p90_s: float | None


class CitizenStatsOut(BaseModel):
    citizen: str
    approved_as_is: int
    edited: int
    rejected: int
    redrafted: int
    sessions: int
    cost_usd: float


class CostDayOut(BaseModel):
    date: str
    citizen: str
    cost_usd: float


class LeadFunnelOut(BaseModel):
    tracked: int
    go: int
    no_go: int
    proposal_drafted: int
    sent: int


class StatsOut(BaseModel):
    days: int
    drafts_per_day: list[DraftsDayOut]
    response_time_per_day: list[ResponseDayOut]
    citizens: list[CitizenStatsOut]
    cost_per_day: list[CostDayOut]
    leads: LeadFunnelOut


async def get_stats(request: web.Request, query: StatsQuery) -> web.Response:
    async with request.app[DB]() as session:
        numbers = await stats.compute(
            session=session, days=query.days, tz=request.app[SETTINGS].tz, now=utcnow()
        )
    return json_response(StatsOut.model_validate(numbers))


ENDPOINTS = [
    Endpoint(
        "GET",
        "/api/stats",
        get_stats,
        "Drafts by outcome, response times, citizens, costs and leads over the last `days` "
        "days (dates in TIMEZONE, oldest first).",
        responses={200: StatsOut},
        errors=(400, 401, 503),
        query=StatsQuery,
    ),
]
