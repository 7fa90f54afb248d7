"""Citizens end to end in the running service, with the fake Bot API and the fake `claude`.

A signed webhook (or /trigger) queues a session, the fake CLI posts a draft back to the API,
and the operator's chat receives the draft's card and the session's start and end notices.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.settings import Settings
from storage.models import CitizenSession, Draft
from tests.citizens_support import FakeClaude
from tests.fake_telegram import FakeTelegram
from tests.signed_posts import signed_headers
from tests.telegram_support import Service, free_port, running_service
from tests.telegram_updates import OPERATOR_ID, STRANGER_ID

SECRET = "e2e-webhook-secret-77a1"

pytestmark = pytest.mark.usefixtures("citizens_home")


@pytest.fixture
def citizen_settings(
    telegram_settings: Callable[..., Settings], fake_claude: FakeClaude
) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "port": free_port(),
            "webhook_secret": SECRET,
            "claude_bin": str(fake_claude.bin),
            "citizen_timeout_s": 30,
        }
        return telegram_settings(**(values | overrides))

    return make


citizen_service = running_service
"""The running service, stopped wherever a test ends (the sender stops safely mid-send)."""


def texts(fake: FakeTelegram, chat_id: int = OPERATOR_ID) -> list[str]:
    """Every text sent or edited into the chat, in order, as the bot wrote it (HTML)."""
    return [
        call.params["text"]
        for call in fake.calls
        if call.ok
        and call.method in ("sendMessage", "editMessageText")
        and call.params.get("chat_id") == chat_id
    ]


async def wait_text(service: Service, needle: str, what: str) -> str:
    def find() -> str | None:
        return next((t for t in texts(service.fake) if needle in t), None)

    return await service.fake.wait_for(find, timeout=30, what=what)  # type: ignore[no-any-return]


async def session_count(service: Service) -> int:
    async with service.db() as session:
        return await session.scalar(select(func.count()).select_from(CitizenSession)) or 0


async def test_webhook_to_session_to_draft_to_telegram(
    citizen_settings: Callable[..., Settings],
    fake_telegram: FakeTelegram,
    fake_claude: FakeClaude,
    citizens_home: Path,
) -> None:
    body = json.dumps(
        {
            "client": "Jane <O'Brien>",
            "message": "Can we add SSO?\nFAKE:draft",
            "job_title": "Chat widget",
            "job_link": "https://upwork.com/jobs/~1",
        }
    ).encode()
    async with citizen_service(citizen_settings(), fake_telegram) as service:
        async with service.http.post(
            f"{service.url}/webhook/upwork-response",
            data=body,
            headers=signed_headers(SECRET, body),
        ) as response:
            assert response.status == 202
            session_id = (await response.json())["session_id"]

        # The client's message showed at once; the fake CLI's draft then took its place:
        # one message, edited from "drafting" to the draft's card with its buttons.
        notice = await service.fake.wait_for(
            lambda: service.fake.sent_messages(OPERATOR_ID), what="the client's message"
        )
        [notice] = service.fake.sent_messages(OPERATOR_ID)
        assert "Jane &lt;O'Brien&gt;" in notice["text"] and "is drafting" in notice["text"]
        [arrived] = service.fake.delivered(OPERATOR_ID)
        key = (OPERATOR_ID, arrived["message_id"])
        card = await service.fake.wait_for(
            lambda: service.fake.messages[key].get("reply_markup") and service.fake.messages[key],
            timeout=30,
            what="the draft card in place of the client's message",
        )
        buttons = card["reply_markup"]["inline_keyboard"]
        assert [b["callback_data"].split(":")[0] for row in buttons for b in row] == [
            "approve",
            "edit",
            "redraft",
            "reject",
        ]
        assert "A reply drafted by the fake claude." in card["text"]
        edits = [t for t in texts(service.fake) if "is drafting" in t]
        assert any("drafting a reply…" in t for t in edits)  # running
        assert not any("session completed" in t for t in texts(service.fake))
        async with service.db() as session:
            [draft] = (await session.scalars(select(Draft))).all()
        # Posted with the session's token (API_TOKEN is set): attributed to that session.
        assert (draft.citizen, draft.session_id) == ("rafael", session_id)

    [call] = fake_claude.calls()
    assert call["argv"][0] == "--print" and "--continue" not in call["argv"]
    assert "API_TOKEN" not in call["env"]
    assert "Jane <O'Brien>" in call["argv"][1]
    assert Path(call["cwd"]) == citizens_home / "rafael"
    assert call["env"]["BACKEND_API_URL"] == f"http://127.0.0.1:{service.settings.port}"


async def test_trigger_answers_at_once_then_reports_start_and_end(
    citizen_settings: Callable[..., Settings], fake_telegram: FakeTelegram, fake_claude: FakeClaude
) -> None:
    async with citizen_service(citizen_settings(), fake_telegram) as service:
        service.say("/trigger emma --scan the new <posts> & rank them")
        ack = await wait_text(service, "emma</b> session", "the acknowledgement")
        assert "starting now" in ack or "queued" in ack
        ended = await wait_text(service, "session completed", "the end notice")
        assert "exit 0" in ended and "fake claude done" in ended
        order = texts(service.fake)
        started = next(i for i, t in enumerate(order) if "session running" in t)
        assert order.index(ack) < started < order.index(ended)

    [call] = fake_claude.calls()
    assert call["argv"][1].endswith("\n--scan the new <posts> & rank them")


async def test_a_session_is_one_silent_message_edited_in_place_and_a_failure_is_loud(
    citizen_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    async with citizen_service(citizen_settings(), fake_telegram) as service:
        service.say("/trigger emma rank the posts")
        await wait_text(service, "session completed", "the end notice")
        service.say("/trigger daniel build it\nFAKE:exit=3")
        await wait_text(service, "session failed:", "the failure reply")

    sent = [m for m in fake_telegram.sent_messages(OPERATOR_ID) if "session" in m["text"]]
    emma_notice, daniel_notice, failure = sent
    assert emma_notice["disable_notification"] is True
    assert daniel_notice["disable_notification"] is True
    assert "daniel" in failure["text"] and not failure.get("disable_notification")
    notices = {m["text"]: m for m in fake_telegram.messages.values() if "session" in m["text"]}
    final = [text for text in notices if "session completed" in text or "after" in text]
    assert len(final) == 2  # each session's one message, edited to its end
    failure_reply_to = failure["reply_parameters"]["message_id"]
    assert "failed after" in fake_telegram.message(OPERATOR_ID, failure_reply_to)["text"]


async def test_a_failing_session_is_reported_with_its_exit_code_and_stderr(
    citizen_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    async with citizen_service(citizen_settings(), fake_telegram) as service:
        service.say("/trigger daniel build it\nFAKE:stderr=tests <failed> & badly\nFAKE:exit=3")
        ended = await wait_text(service, "session failed", "the failure notice")
        assert "exit 3" in ended and "tests &lt;failed&gt; &amp; badly" in ended


async def test_a_second_trigger_of_a_busy_citizen_says_it_is_queued(
    citizen_settings: Callable[..., Settings], fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    async with citizen_service(citizen_settings(), fake_telegram) as service:
        service.say(f"/trigger rafael first\nFAKE:wait-for={gate}")
        await wait_text(service, "session running", "the first session to start")
        service.say("/trigger rafael second")
        ack = await wait_text(service, "1 ahead", "the queued acknowledgement")
        assert "rafael" in ack
        gate.touch()
        await service.fake.wait_for(
            lambda: sum("session completed" in t for t in texts(service.fake)) == 2,
            timeout=30,
            what="both sessions to end",
        )


async def test_trigger_accepts_a_citizen_in_any_case(
    citizen_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    async with citizen_service(citizen_settings(), fake_telegram) as service:
        service.say("/trigger Rafael check the inbox")
        ack = await wait_text(service, "rafael</b> session", "the acknowledgement")
        assert "There is no citizen" not in "".join(texts(service.fake))
        assert "queued" in ack or "starting now" in ack
    async with service.db() as session:
        [row] = (await session.scalars(select(CitizenSession))).all()
    assert row.citizen == "rafael"


@pytest.mark.parametrize("command", ["/trigger nobody hello", "/trigger ../rafael hi"])
async def test_an_unknown_citizen_is_refused_in_telegram(
    citizen_settings: Callable[..., Settings], fake_telegram: FakeTelegram, command: str
) -> None:
    async with citizen_service(citizen_settings(), fake_telegram) as service:
        service.say(command)
        refusal = await wait_text(service, "There is no citizen", "the refusal")
        assert "daniel, emma, rafael" in refusal
        assert await session_count(service) == 0


async def test_trigger_without_a_message_shows_the_usage(
    citizen_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    async with citizen_service(citizen_settings(), fake_telegram) as service:
        service.say("/trigger emma")
        assert "Usage: /trigger" in await wait_text(service, "Usage", "the usage")
        assert await session_count(service) == 0


async def test_a_stranger_cannot_trigger(
    citizen_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    async with citizen_service(citizen_settings(), fake_telegram) as service:
        service.say("/trigger emma hello", user_id=STRANGER_ID)
        await service.fake.wait_for(
            lambda: texts(service.fake, STRANGER_ID), timeout=10, what="the refusal"
        )
        assert await session_count(service) == 0


async def test_trigger_is_in_the_registered_commands(
    citizen_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    async with citizen_service(citizen_settings(), fake_telegram) as service:
        [call] = service.fake.calls_to("setMyCommands")
        commands = call.params["commands"]
        assert "trigger" in [c["command"] for c in commands]


async def test_shutdown_fails_a_running_session_and_the_restart_reports_it(
    citizen_settings: Callable[..., Settings], fake_telegram: FakeTelegram, fake_claude: FakeClaude
) -> None:
    settings = citizen_settings()
    async with citizen_service(settings, fake_telegram) as service:
        service.say("/trigger daniel long job\nFAKE:child\nFAKE:sleep=60")
        await wait_text(service, "session running", "the session to start")
    async with service.db() as session:
        [row] = (await session.scalars(select(CitizenSession))).all()
    assert row.status == "failed" and "shut down" in (row.error or "")
    # The failure notice was stored in the outbox; the next start delivers it.
    async with citizen_service(settings, fake_telegram) as service:
        await wait_text(service, "session failed", "the failure notice after the restart")


async def test_a_missing_cli_fails_the_session_clearly_and_the_service_goes_on(
    citizen_settings: Callable[..., Settings], fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    settings = citizen_settings(claude_bin=str(tmp_path / "no-claude-here"))
    async with citizen_service(settings, fake_telegram) as service:
        service.say("/trigger emma scan")
        failed = await wait_text(service, "session failed", "the failure notice")
        assert "was not found (check CLAUDE_BIN)" in failed
        assert (await service.health())["status"] == "ok"
        service.say("/trigger emma scan again")
        await service.fake.wait_for(
            lambda: sum("session failed after" in t for t in texts(service.fake)) == 2,
            timeout=30,
            what="the second session to fail too",
        )
