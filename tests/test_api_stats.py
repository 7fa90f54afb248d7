"""GET /api/stats: every number asserted on seeded rows, days counted in TIMEZONE."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.charts import KINDS, chart_png
from bot.settings import Settings
from storage.engine import create_engine
from storage.hotpath import HotPath
from storage.migrate import upgrade_to_head
from storage.models import CitizenSession, Draft, DraftFeedback, Lead, Thread, ThreadMessage
from storage.repo import thread_intake
from storage.repo.stats import percentile_cont
from storage.repo.thread_intake import ClientMessage
from storage.types import utcnow
from tests.conftest import API_TOKEN

TZ = ZoneInfo("America/New_York")  # UTC-5 in winter: local evenings are the next UTC day


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(timezone="America/New_York")


@pytest.fixture
async def engine(settings: Settings) -> Any:
    engine = create_engine(settings.database_url)
    await upgrade_to_head(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
async def api(aiohttp_client: Any, settings: Settings, engine: AsyncEngine) -> TestClient:
    from web.app import create_app

    client: TestClient = await aiohttp_client(create_app(settings, engine))
    client.session.headers["Authorization"] = f"Bearer {API_TOKEN}"
    return client


class Seed:
    """Rows placed at local times of the last three days: D0 (oldest), D1, D2 (today)."""

    def __init__(self) -> None:
        today = datetime.now(TZ).date()
        self.days = [today - timedelta(days=2), today - timedelta(days=1), today]
        self.rows: list[Any] = []

    def at(self, day: int | date, hh: int, mm: int = 0) -> datetime:
        local = self.days[day] if isinstance(day, int) else day
        return datetime.combine(local, time(hh, mm), tzinfo=TZ)

    def thread(self, *messages: tuple[str, datetime]) -> str:
        thread = Thread(id=str(uuid.uuid4()), platform="upwork", client="Acme")
        self.rows.append(thread)
        for direction, at in messages:
            self.rows.append(
                ThreadMessage(thread_id=thread.id, direction=direction, text="…", at=at)
            )
        return thread.id

    def draft(
        self,
        status: str,
        created: datetime,
        decided: datetime | None = None,
        *,
        citizen: str = "rafael",
        feedback: str | None = None,
        **fields: Any,
    ) -> str:
        draft = Draft(
            id=str(uuid.uuid4()),
            client="Acme",
            job_title="Bot",
            message="Hi",
            draft_text="Hello",
            confidence=80,
            citizen=citizen,
            status=status,
            created_at=created,
            updated_at=decided or created,
            decided_at=decided,
            **fields,
        )
        self.rows.append(draft)
        if feedback is not None:
            self.rows.append(DraftFeedback(draft_id=draft.id, kind=feedback, text="x", at=decided))
        return draft.id

    def session(self, citizen: str, started: datetime | None, cost: float | None) -> None:
        self.rows.append(
            CitizenSession(
                id=str(uuid.uuid4()),
                citizen=citizen,
                trigger="webhook",
                prompt="p",
                status="completed" if started else "queued",
                created_at=started or self.at(2, 0),
                started_at=started,
                cost_usd=cost,
            )
        )

    def lead(self, decision: str, created: datetime, *, sent: bool = False) -> Lead:
        lead = Lead(
            platform="upwork",
            title="A job",
            budget="$1k",
            decision=decision,
            reason="r",
            sent=sent,
            created_at=created,
            updated_at=created,
        )
        self.rows.append(lead)
        return lead

    async def store(self, db: async_sessionmaker[AsyncSession]) -> None:
        async with db() as session, session.begin():
            for row in self.rows:  # in order: threads and leads before what points at them
                session.add(row)
                await session.flush()


async def seed(db: async_sessionmaker[AsyncSession]) -> Seed:
    s = Seed()
    long_ago = s.days[0] - timedelta(days=10)
    proposal_lead = s.lead("GO", s.at(1, 8), sent=True)
    s.lead("GO", s.at(0, 9))
    s.lead("NO-GO", s.at(2, 9))
    s.lead("GO", s.at(long_ago, 9), sent=True)
    await s.store(db)
    s.rows = []

    # D1: three approvals, waits of 30, 60 and 15 minutes.
    # The reply at 12:30 came after this draft was written: the wait still starts at 09:00.
    t1 = s.thread(("in", s.at(1, 9)), ("out", s.at(1, 12, 30)))
    s.draft("approved", s.at(1, 9, 10), s.at(1, 9, 30), thread_id=t1, lead_id=proposal_lead.id)
    # The 08:00 reply answered D0's message: the wait starts at 10:00, not at D0 23:00.
    t2 = s.thread(
        ("in", s.at(0, 23)), ("out", s.at(1, 8)), ("in", s.at(1, 10)), ("in", s.at(1, 10, 30))
    )
    s.draft(
        "sent", s.at(1, 10, 40), s.at(1, 11), thread_id=t2, feedback="edit", sent_at=s.at(2, 1)
    )
    s.draft("approved", s.at(1, 12), s.at(1, 12, 15), citizen="emma")
    # A later draft of the same thread, written after the 12:30 reply.
    s.draft("rejected", s.at(1, 12, 45), s.at(1, 13), feedback="reject_reason", thread_id=t1)
    s.draft("superseded", s.at(1, 13), s.at(1, 14), feedback="redraft")
    # Superseded by the client's next message, through the real intake: counted today (D2),
    # when it happened, not when the draft was written.
    t3 = s.thread(("in", s.at(1, 13, 50)))
    stale = s.draft("pending", s.at(1, 14), thread_id=t3)
    # D0 23:30 in New York is already D1 in UTC: it counts on D0.
    s.draft("approved", s.at(0, 23), s.at(0, 23, 30), citizen="emma")
    s.draft("pending", s.at(2, 0, 5))
    s.draft("approved", s.at(long_ago, 9), s.at(long_ago, 10))

    s.session("rafael", s.at(1, 9, 5), 0.5)
    s.session("rafael", s.at(1, 10, 35), 0.25)
    s.session("rafael", s.at(2, 0, 10), None)
    s.session("emma", s.at(0, 22), 1.0)
    s.session("emma", None, None)  # queued, never started
    s.session("daniel", s.at(long_ago, 9), 9.0)
    await s.store(db)
    async with db() as session, session.begin():
        thread = await session.get(Thread, t3)
        assert thread is not None
        thread.external_key = "gmail-t3"
    hot = HotPath(db.kw["bind"])
    async with hot.transaction() as fetch:
        joined = await thread_intake.receive(
            fetch,
            incoming=ClientMessage(client="Acme", message="Any news?", key="gmail-t3"),
            now=utcnow(),
        )
    assert list(joined.superseded) == [stale]
    return s


async def test_the_numbers_of_the_last_three_days(
    api: TestClient, db: async_sessionmaker[AsyncSession]
) -> None:
    s = await seed(db)
    response = await api.get("/api/stats?days=3")
    assert response.status == 200, await response.text()
    d0, d1, d2 = (day.isoformat() for day in s.days)
    zero = {"approved": 0, "edited": 0, "rejected": 0, "redrafted": 0, "superseded": 0, "sent": 0}
    assert await response.json() == {
        "days": 3,
        "drafts_per_day": [
            {"date": d0, **zero, "approved": 1},
            {
                "date": d1,
                **zero,
                "approved": 3,
                "edited": 1,
                "rejected": 1,
                "redrafted": 1,
            },
            {"date": d2, **zero, "sent": 1, "superseded": 1},
        ],
        "response_time_per_day": [
            {"date": d0, "median_s": 1800.0, "p90_s": 1800.0},
            {"date": d1, "median_s": 1800.0, "p90_s": 3240.0},
            {"date": d2, "median_s": None, "p90_s": None},
        ],
        "citizens": [
            {
                "citizen": "emma",
                "approved_as_is": 2,
                "edited": 0,
                "rejected": 0,
                "redrafted": 0,
                "sessions": 1,
                "cost_usd": 1.0,
            },
            {
                "citizen": "rafael",
                "approved_as_is": 1,
                "edited": 1,
                "rejected": 1,
                "redrafted": 1,
                "sessions": 3,
                "cost_usd": 0.75,
            },
        ],
        "cost_per_day": [
            {"date": d0, "citizen": "emma", "cost_usd": 1.0},
            {"date": d1, "citizen": "rafael", "cost_usd": 0.75},
            {"date": d2, "citizen": "rafael", "cost_usd": 0.0},
        ],
        "leads": {"tracked": 3, "go": 2, "no_go": 1, "proposal_drafted": 1, "sent": 1},
    }


async def test_one_day_is_today_alone_and_the_default_is_thirty(
    api: TestClient, db: async_sessionmaker[AsyncSession]
) -> None:
    s = await seed(db)
    today = await (await api.get("/api/stats?days=1")).json()
    assert [d["date"] for d in today["drafts_per_day"]] == [s.days[2].isoformat()]
    assert today["drafts_per_day"][0]["sent"] == 1
    assert today["leads"]["tracked"] == 1
    month = await (await api.get("/api/stats")).json()
    dates = [d["date"] for d in month["drafts_per_day"]]
    assert month["days"] == 30 and len(dates) == 30 and dates == sorted(dates)
    assert dates[-1] == s.days[2].isoformat()
    assert sum(d["approved"] for d in month["drafts_per_day"]) == 5  # the old one is out
    assert month["leads"]["tracked"] == 4


@pytest.mark.parametrize("query", ["days=0", "days=366", "days=x", "days=1&days=2", "day=3"])
async def test_a_bad_days_is_400(api: TestClient, query: str) -> None:
    response = await api.get(f"/api/stats?{query}")
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "invalid_query"


def test_percentiles_interpolate_like_postgresql() -> None:
    assert percentile_cont([900.0, 1800.0, 3600.0], 0.9) == 3240.0
    assert percentile_cont([10.0], 0.5) == 10.0
    assert percentile_cont([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5


async def test_the_charts_draw_the_numbers_the_api_answers(
    api: TestClient, db: async_sessionmaker[AsyncSession]
) -> None:
    await seed(db)
    numbers = await (await api.get("/api/stats?days=3")).json()
    for kind in KINDS:
        image = Image.open(io.BytesIO(chart_png(kind, numbers)))
        image.load()
        assert (image.format, image.size) == ("PNG", (1080, 840)), kind


async def test_past_days_are_read_once_and_today_on_every_request(
    api: TestClient, db: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    s = await seed(db)
    first = await (await api.get("/api/stats?days=3")).json()
    later = Seed()
    later.draft("rejected", later.at(2, 0, 1), datetime.now(TZ))
    await later.store(db)
    second = await (await api.get("/api/stats?days=3")).json()
    assert second["drafts_per_day"][2]["rejected"] == first["drafts_per_day"][2]["rejected"] + 1
    assert second["drafts_per_day"][:2] == first["drafts_per_day"][:2]

    # What the cache answers for the closed days is what the database says from scratch.
    from web.app import create_app

    fresh_engine = create_engine(settings.database_url)
    try:
        async with TestClient(TestServer(create_app(settings, fresh_engine))) as fresh:
            headers = {"Authorization": f"Bearer {API_TOKEN}"}
            scratch = await (await fresh.get("/api/stats?days=3", headers=headers)).json()
    finally:
        await fresh_engine.dispose()
    assert scratch == second
    assert s.days[2].isoformat() == second["drafts_per_day"][2]["date"]
