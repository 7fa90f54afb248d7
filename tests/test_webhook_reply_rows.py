"""A client's reply stored on the hot path (storage/repo/reply_intake.py) writes exactly the
rows the ORM path writes: the thread begun or joined, the message, the session, the delivery
and the three events with their payloads. A thread with pending drafts still goes the ORM
way (tests/test_thread_intake.py covers superseding)."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from storage.models import CitizenSession, Event, Thread, ThreadMessage, WebhookDelivery
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
    first = upwork_body(job_title="SSO", thread="gmail-1", platform="UpWork")
    answer = await (await hooks.post(UPWORK, data=first, headers=signed(first))).json()
    second = upwork_body(
        message="And a login page?", job_title="sso", job_link="https://u.com/jobs/~9"
    )
    second_headers = standard(second, "msg_2")
    again = await hooks.post(UPWORK, data=second, headers=second_headers)
    assert again.status == 202
    joined = await again.json()

    [thread], messages, logged = await _rows(db)
    assert joined["thread_id"] == answer["thread_id"] == thread.id
    assert (thread.platform, thread.client, thread.job_title) == ("upwork", "Jane O'Brien", "SSO")
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
                "client": "Jane O'Brien",
                "platform": "upwork",
                "new_thread": False,
                "message_chars": 17,
            },
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
                "client": "Jane O'Brien",
                "job_title": "sso",
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
        deliveries = (await session.scalars(select(WebhookDelivery))).all()
    assert queued is not None
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
