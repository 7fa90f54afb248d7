"""`POST /api/leads`, `GET /api/leads`, `GET|PATCH /api/lead/{id}` (CONTRACT §3)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import Event, Lead
from tests.factories import OMIT, event_names, lead_body, stored_counts
from tests.paging import UTC_TIMESTAMP, assert_error, fetch_page, walk_pages

DB = async_sessionmaker[AsyncSession]


async def create(api: TestClient, **overrides: Any) -> int:
    response = await api.post("/api/leads", json=lead_body(**overrides))
    assert response.status == 201, await response.text()
    return (await response.json())["lead_id"]


async def test_create_answers_lead_id_and_writes_lead_tracked(api: TestClient, db: DB) -> None:
    body = lead_body(urgency=7, pain=3, link="https://www.upwork.com/jobs/~01")
    response = await api.post("/api/leads", json=body)

    assert response.status == 201
    created = await response.json()
    assert set(created) == {"lead_id"}
    assert type(created["lead_id"]) is int
    async with db() as session:
        lead = await session.get(Lead, created["lead_id"])
        events = (await session.scalars(select(Event))).all()
    assert lead is not None
    assert {key: getattr(lead, key) for key in body} == body
    assert lead.sent is False
    assert [event.event for event in events] == ["lead.tracked@1.0"]
    assert events[0].payload["lead_id"] == created["lead_id"]
    assert events[0].payload["decision"] == "GO"


async def test_get_answers_the_lead(api: TestClient) -> None:
    lead_id = await create(api, decision="NO-GO", urgency=OMIT)

    response = await api.get(f"/api/lead/{lead_id}")

    assert response.status == 200
    lead = await response.json()
    assert lead["id"] == lead_id
    assert {key: lead[key] for key in lead_body()} == lead_body(decision="NO-GO")
    assert (lead["urgency"], lead["pain"], lead["link"], lead["sent"]) == (None, None, None, False)
    assert UTC_TIMESTAMP.match(lead["created_at"])
    assert UTC_TIMESTAMP.match(lead["updated_at"])


async def test_unknown_lead_is_404_for_get_and_patch(api: TestClient, db: DB) -> None:
    for lead_id in ["999", "0", "-1", "abc", "1.5", "9" * 30, "%00", "%EF%BC%91"]:
        response = await api.get(f"/api/lead/{lead_id}")
        await assert_error(response, 404, "lead_not_found")
        response = await api.patch(f"/api/lead/{lead_id}", json={"sent": True})
        await assert_error(response, 404, "lead_not_found")
    assert await event_names(db) == []


async def test_invalid_lead_is_422_naming_the_field_and_stores_nothing(
    api: TestClient, db: DB
) -> None:
    cases = [
        ("platform", lead_body(platform=OMIT)),
        ("platform", lead_body(platform="")),
        ("platform", lead_body(platform="p" * 51)),
        ("title", lead_body(title="t" * 501)),
        ("title", lead_body(title=" ")),
        ("budget", lead_body(budget="b" * 101)),
        ("budget", lead_body(budget=2000)),
        ("decision", lead_body(decision="go")),
        ("decision", lead_body(decision="MAYBE")),
        ("decision", lead_body(decision=OMIT)),
        ("reason", lead_body(reason=OMIT)),
        ("reason", lead_body(reason="")),
        ("urgency", lead_body(urgency=0)),
        ("urgency", lead_body(urgency=11)),
        ("urgency", lead_body(urgency="5")),
        ("pain", lead_body(pain=True)),
        ("pain", lead_body(pain=5.5)),
        ("link", lead_body(link="")),
        ("link", lead_body(link="l" * 2001)),
        ("sent", lead_body(sent=True)),
    ]
    for field, body in cases:
        response = await api.post("/api/leads", json=body)
        await assert_error(response, 422, "validation_error", field=field)
    assert await stored_counts(db) == dict.fromkeys(await stored_counts(db), 0)


async def test_bounds_are_inclusive(api: TestClient) -> None:
    await create(api, platform="p" * 50, title="t" * 500, budget="b" * 100, urgency=1, pain=10)
    await create(api, platform="p", title="t", budget="b", urgency=10, pain=1)


async def test_patch_sent_writes_lead_sent_once(api: TestClient, db: DB) -> None:
    lead_id = await create(api)
    before = await (await api.get(f"/api/lead/{lead_id}")).json()

    first = await api.patch(f"/api/lead/{lead_id}", json={"sent": True})
    second = await api.patch(f"/api/lead/{lead_id}", json={"sent": True})

    assert (first.status, second.status) == (200, 200)
    lead = await first.json()
    assert lead["sent"] is True
    assert lead["updated_at"] >= before["updated_at"]
    assert (await second.json())["sent"] is True
    assert (await (await api.get(f"/api/lead/{lead_id}")).json())["sent"] is True
    assert await event_names(db) == ["lead.tracked@1.0", "lead.sent@1.0"]


async def test_concurrent_patches_write_one_lead_sent(api: TestClient, db: DB) -> None:
    lead_id = await create(api)

    responses = await asyncio.gather(
        *(api.patch(f"/api/lead/{lead_id}", json={"sent": True}) for _ in range(8))
    )

    assert [response.status for response in responses] == [200] * 8
    assert await event_names(db) == ["lead.tracked@1.0", "lead.sent@1.0"]


async def test_unsending_a_sent_lead_is_409_and_changes_nothing(api: TestClient, db: DB) -> None:
    lead_id = await create(api)
    assert (await api.patch(f"/api/lead/{lead_id}", json={"sent": True})).status == 200
    before = await (await api.get(f"/api/lead/{lead_id}")).json()

    response = await api.patch(f"/api/lead/{lead_id}", json={"sent": False})

    await assert_error(response, 409, "illegal_transition")
    assert await (await api.get(f"/api/lead/{lead_id}")).json() == before
    assert await event_names(db) == ["lead.tracked@1.0", "lead.sent@1.0"]


async def test_patch_sent_false_on_an_unsent_lead_changes_nothing(api: TestClient, db: DB) -> None:
    lead_id = await create(api)
    before = await (await api.get(f"/api/lead/{lead_id}")).json()

    response = await api.patch(f"/api/lead/{lead_id}", json={"sent": False})

    assert response.status == 200
    assert await response.json() == before
    assert await event_names(db) == ["lead.tracked@1.0"]


async def test_invalid_patch_is_422_and_changes_nothing(api: TestClient, db: DB) -> None:
    lead_id = await create(api)
    before = await (await api.get(f"/api/lead/{lead_id}")).json()
    for body in [{}, {"sent": "true"}, {"sent": 1}, {"sent": None}, {"sent": True, "x": 1}]:
        response = await api.patch(f"/api/lead/{lead_id}", json=body)
        await assert_error(response, 422, "validation_error")
    assert await (await api.get(f"/api/lead/{lead_id}")).json() == before
    assert await event_names(db) == ["lead.tracked@1.0"]


async def test_list_is_newest_first_and_filters(api: TestClient) -> None:
    go_upwork = await create(api, decision="GO", platform="Upwork")
    nogo_upwork = await create(api, decision="NO-GO", platform="upwork")
    go_contra = await create(api, decision="GO", platform="contra")
    nogo_contra = await create(api, decision="NO-GO", platform="contra")
    assert (await api.patch(f"/api/lead/{go_contra}", json={"sent": True})).status == 200

    async def ids(**params: str) -> list[int]:
        leads, _ = await fetch_page(api, "/api/leads", "leads", **params)
        return [lead["id"] for lead in leads]

    assert await ids() == [nogo_contra, go_contra, nogo_upwork, go_upwork]
    assert await ids(decision="GO") == [go_contra, go_upwork]
    assert await ids(decision="NO-GO") == [nogo_contra, nogo_upwork]
    assert await ids(platform="upwork") == [nogo_upwork, go_upwork]
    assert await ids(platform="UPWORK") == [nogo_upwork, go_upwork]
    assert await ids(sent="true") == [go_contra]
    assert await ids(sent="false") == [nogo_contra, nogo_upwork, go_upwork]
    assert await ids(decision="GO", platform="contra", sent="true") == [go_contra]
    assert await ids(decision="NO-GO", sent="true") == []


async def test_platform_is_stored_lower_case(api: TestClient) -> None:
    lead_id = await create(api, platform="UpWork")
    assert (await (await api.get(f"/api/lead/{lead_id}")).json())["platform"] == "upwork"


async def test_a_known_link_answers_the_existing_lead_and_writes_nothing(
    api: TestClient, db: DB
) -> None:
    link = "https://www.upwork.com/jobs/~0123"
    first = await create(api, link=link)
    before = await stored_counts(db)

    again = await api.post("/api/leads", json=lead_body(link=link, title="Same job, again"))

    assert again.status == 200
    assert await again.json() == {"lead_id": first, "duplicate": True}
    assert await stored_counts(db) == before
    other = await create(api, link=link + "5")
    leads, _ = await fetch_page(api, "/api/leads", "leads", link=link)
    assert [lead["id"] for lead in leads] == [first]
    assert other != first


async def test_concurrent_requests_with_one_link_store_one_lead(api: TestClient, db: DB) -> None:
    """CONTRACT §9 (v3): on PostgreSQL the requests really overlap (a pool of connections)."""
    link = "https://www.upwork.com/jobs/~race"
    responses = await asyncio.gather(
        *(api.post("/api/leads", json=lead_body(link=link, title=f"Try {n}")) for n in range(8))
    )
    answers = [(r.status, await r.json()) for r in responses]

    assert sorted(status for status, _ in answers) == [200] * 7 + [201]
    [lead_id] = {answer["lead_id"] for _, answer in answers}
    async with db() as session:
        assert list(await session.scalars(select(Lead.id).where(Lead.link == link))) == [lead_id]  # type: ignore[arg-type]
    assert await event_names(db) == ["lead.tracked@1.0"]


async def test_pages_hold_every_lead_once_and_stay_stable_while_leads_arrive(
    api: TestClient,
) -> None:
    ids = [await create(api, decision="GO" if i % 2 else "NO-GO") for i in range(9)]

    pages = await walk_pages(api, "/api/leads", "leads", limit=2)
    assert [lead["id"] for page in pages for lead in page] == ids[::-1]
    go_pages = await walk_pages(api, "/api/leads", "leads", limit=2, decision="GO")
    assert [lead["id"] for page in go_pages for lead in page] == ids[1::2][::-1]

    page, cursor = await fetch_page(api, "/api/leads", "leads", limit=4)
    seen = [lead["id"] for lead in page]
    newer = [await create(api) for _ in range(2)]
    while cursor is not None:
        page, cursor = await fetch_page(api, "/api/leads", "leads", limit=4, cursor=cursor)
        seen += [lead["id"] for lead in page]
    assert seen == ids[::-1]
    assert not set(newer) & set(seen)


async def test_bad_list_query_is_400(api: TestClient) -> None:
    for params, field in [
        ({"decision": "go"}, "decision"),
        ({"sent": "perhaps"}, "sent"),
        ({"platform": "p" * 51}, "platform"),
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
        ({"status": "GO"}, "status"),
    ]:
        response = await api.get("/api/leads", params=params)
        await assert_error(response, 400, "invalid_query", field=field)


async def test_leads_filter_by_link(api: TestClient) -> None:
    """How Emma's `find_leads` finds a post she already evaluated."""
    wanted = await create(api, link="https://www.upwork.com/jobs/~wanted")
    await create(api, link="https://www.upwork.com/jobs/~other")

    response = await api.get("/api/leads", params={"link": "https://www.upwork.com/jobs/~wanted"})

    assert response.status == 200
    assert [lead["id"] for lead in (await response.json())["leads"]] == [wanted]
