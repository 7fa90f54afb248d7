"""The rows a client's reply writes (storage/repo/reply_intake.py, the one way it is stored):
the thread begun or joined, the message, the stale draft superseded, the session, the
delivery and the events with their payloads; and names matched as Python's casefold()."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import event, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import wakeups
from storage.hotpath import HotPath
from storage.models import (
    CitizenSession,
    Draft,
    Event,
    OutboxMessage,
    Thread,
    ThreadMessage,
    WebhookDelivery,
)
from storage.repo import drafts, outbox, reply_intake
from storage.repo.draft_intake import Card
from storage.repo.thread_intake import ClientMessage
from storage.repo.webhook_deliveries import Delivery
from tests.factories import draft_body
from tests.statements import sent
from tests.test_webhooks_signed import UPWORK, Db, hooks, signed, standard, upwork_body, waker

__all__ = ["hooks", "waker"]  # fixtures, used by name

pytestmark = pytest.mark.usefixtures("citizens_home")


async def _rows(db: Db) -> tuple[list[Thread], list[ThreadMessage], list[Event]]:
    async with db() as session:
        threads = list((await session.scalars(select(Thread))).all())
        messages = list((await session.scalars(select(ThreadMessage))).all())
        found = list((await session.scalars(select(Event).order_by(Event.id))).all())  # type: ignore[arg-type]
    return threads, messages, found


async def test_a_reply_begins_a_thread_then_joins_it(hooks: TestClient, db: Db) -> None:
    first = upwork_body(
        client="Łukasz Nowak", job_title="Straße SSO", thread="gmail-1", platform="UpWork"
    )
    answer = await (await hooks.post(UPWORK, data=first, headers=signed(first))).json()
    async with db() as session, session.begin():
        stale = drafts.new(**draft_body(client="Łukasz Nowak", thread_id=answer["thread_id"]))
        session.add(stale)
    # Neither database's lower() makes these equal; casefold() does.
    second = upwork_body(
        client="ŁUKASZ NOWAK",
        message="And a login page?",
        job_title="STRASSE sso",
        job_link="https://u.com/jobs/~9",
    )
    second_headers = standard(second, "msg_2")
    again = await hooks.post(UPWORK, data=second, headers=second_headers)
    assert again.status == 202
    joined = await again.json()

    [thread], messages, logged = await _rows(db)
    assert joined["thread_id"] == answer["thread_id"] == thread.id
    assert (thread.platform, thread.client, thread.job_title) == (
        "upwork",
        "Łukasz Nowak",
        "Straße SSO",
    )
    # Matched by client and title (any case); the link it lacked is taken from the reply.
    assert (thread.external_key, thread.job_link) == ("gmail-1", "https://u.com/jobs/~9")
    assert thread.waiting_since == thread.created_at
    assert thread.last_message_at == messages[1].at > thread.created_at
    assert [(m.direction, m.text, m.draft_id) for m in messages] == [
        ("in", "Can we add SSO? $(rm -rf ~) `id`", None),
        ("in", "And a login page?", None),
    ]
    payloads = [(e.event, e.payload) for e in logged]
    assert payloads[3:] == [
        (
            "thread.message.received@1.0",
            {
                "thread_id": thread.id,
                "client": "ŁUKASZ NOWAK",
                "platform": "upwork",
                "new_thread": False,
                "message_chars": 17,
            },
        ),
        (
            "draft.superseded@1.0",
            {"draft_id": stale.id, "thread_id": thread.id, "reason": "client_wrote"},
        ),
        (
            "citizen.session.queued@1.0",
            {
                "session_id": joined["session_id"],
                "citizen": "rafael",
                "trigger": "upwork-response",
            },
        ),
        (
            "upwork.response.received@1.0",
            {
                "client": "ŁUKASZ NOWAK",
                "job_title": "STRASSE sso",
                "job_link": "https://u.com/jobs/~9",
                "message_chars": 17,
                "thread_id": thread.id,
                "session_id": joined["session_id"],
                "webhook_id": "msg_2",
            },
        ),
    ]
    assert payloads[0][1]["new_thread"] is True
    assert payloads[2][1]["webhook_id"] is None
    async with db() as session:
        queued = await session.get(CitizenSession, joined["session_id"])
        superseded = await session.get(Draft, stale.id)
        deliveries = (await session.scalars(select(WebhookDelivery))).all()
    assert queued is not None and superseded is not None
    assert superseded.status == "superseded"
    assert (queued.citizen, queued.trigger, queued.status, queued.thread_id) == (
        "rafael",
        "upwork-response",
        "queued",
        thread.id,
    )
    assert "And a login page?" in queued.prompt and queued.run_anyway is False
    assert [(d.webhook_id, d.route, d.session_id) for d in deliveries] == [
        (None, UPWORK, answer["session_id"]),
        ("msg_2", UPWORK, joined["session_id"]),
    ]

    # The same signed id again is a duplicate: nothing more is stored.
    duplicate = await hooks.post(UPWORK, data=second, headers=second_headers)
    assert duplicate.status == 200
    assert len((await _rows(db))[2]) == len(logged)


async def test_messages_of_one_new_thread_at_the_same_instant_open_one_thread(
    hooks: TestClient, db: Db
) -> None:
    """CONTRACT §9 (v3): on PostgreSQL the requests really overlap (a pool of connections)."""
    bodies = [
        upwork_body(client=client, job_title=title, message=f"Message {n}")
        for n, (client, title) in enumerate(
            [("Łukasz Nowak", "Straße"), ("łukasz nowak", "STRASSE"), ("ŁUKASZ NOWAK", "strasse")]
            * 3
        )
    ]
    responses = await asyncio.gather(
        *(hooks.post(UPWORK, data=body, headers=signed(body)) for body in bodies)
    )
    answers = [(r.status, await r.json()) for r in responses]

    assert [status for status, _ in answers] == [202] * len(bodies)
    threads, messages, logged = await _rows(db)
    assert [thread.id for thread in threads] == [answers[0][1]["thread_id"]]
    assert {answer["thread_id"] for _, answer in answers} == {threads[0].id}
    assert sorted(m.text for m in messages) == sorted(f"Message {n}" for n in range(9))
    opened = [e.payload["new_thread"] for e in logged if e.event.startswith("thread.message")]
    assert sorted(opened) == [False] * 8 + [True]


async def test_the_client_filters_match_as_casefold(hooks: TestClient, api: TestClient) -> None:
    """GET /api/threads?client= and GET /api/drafts?client= (CONTRACT §3, §9, v3)."""
    body = upwork_body(client="Łukasz Straße")
    thread_id = (await (await hooks.post(UPWORK, data=body, headers=signed(body))).json())[
        "thread_id"
    ]
    other = upwork_body(client="Lukasz Strasse")
    await hooks.post(UPWORK, data=other, headers=signed(other))
    created = await api.post(
        "/api/draft/create", json=draft_body(client="Łukasz Straße", thread_id=thread_id)
    )
    draft_id = (await created.json())["draft_id"]

    for asked in ("łukasz strasse", "ŁUKASZ STRASSE", "Łukasz Straße"):
        found = await (await api.get("/api/threads", params={"client": asked})).json()
        assert [t["id"] for t in found["threads"]] == [thread_id], asked
        listed = await (await api.get("/api/drafts", params={"client": asked})).json()
        assert [d["id"] for d in listed["drafts"]] == [draft_id], asked


async def test_a_clients_notice_is_queued_by_the_outboxs_one_statement(
    engine: AsyncEngine, db: Db
) -> None:
    """The operator's message about a client's message is queued as every outbox message is
    (storage/repo/outbox.py `QUEUE`): the same INSERT reaches the database."""
    hot = HotPath(engine)
    with sent(engine) as statements:
        stored = await reply_intake.receive(
            hot=hot,
            delivery=Delivery(None, "body-hash-1", False, UPWORK),
            label=None,
            citizen="rafael",
            trigger="upwork-response",
            prompt="Answer Jane.",
            reply=ClientMessage(client="Jane Roe", message="Hello?", job_title="Widget"),
            notice=Card(chat_id=-1001, text="💬 <b>Jane Roe</b> wrote"),
        )
    from_webhook = [s for s in statements if s.lstrip().upper().startswith("INSERT INTO OUTBOX")]
    # `enqueue` runs through SQLAlchemy on both databases: its cursor events see the SQL.
    from_enqueue: list[str] = []

    def keep(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        if sql.lstrip().upper().startswith("INSERT INTO OUTBOX"):
            from_enqueue.append(sql)

    event.listen(engine.sync_engine, "before_cursor_execute", keep)
    try:
        async with db() as session, session.begin():
            await outbox.enqueue(session=session, chat_id=-1001, text="Hello", thread_id=None)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", keep)

    assert stored is not None and len(from_webhook) == 1
    assert from_webhook == from_enqueue
    async with db() as session:
        rows = (await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all()  # type: ignore[arg-type]
    assert [(r.chat_id, r.text, r.thread_id, r.status, r.silent) for r in rows] == [
        (-1001, "💬 <b>Jane Roe</b> wrote", stored.thread_id, "pending", False),
        (-1001, "Hello", None, "pending", False),
    ]


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_a_reply_wakes_the_workers_waiting_for_sessions(
    hooks: TestClient, engine: AsyncEngine
) -> None:
    """A webhook's session is announced on the SESSIONS channel when it commits, so a
    `scopelock worker` process claims it at once instead of at its next poll."""
    heard: list[str] = []
    sentinel = asyncio.Event()

    def on_notification(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
        heard.append(payload)
        if payload == "sentinel":
            sentinel.set()

    async with engine.connect() as listener:
        driver = (await listener.get_raw_connection()).driver_connection
        assert driver is not None
        await driver.add_listener(wakeups.SESSIONS, on_notification)
        body = upwork_body(client="Jane Roe", message="Still there?")
        response = await hooks.post(UPWORK, data=body, headers=signed(body))
        assert response.status == 202
        # Notifications arrive in the order their transactions committed: once the sentinel,
        # sent after the webhook answered, is heard, the webhook's would have been too.
        async with engine.begin() as other:
            await other.execute(
                text("SELECT pg_notify(:channel, 'sentinel')"), {"channel": wakeups.SESSIONS}
            )
        await sentinel.wait()
        await driver.remove_listener(wakeups.SESSIONS, on_notification)

    assert heard == ["", "sentinel"]
