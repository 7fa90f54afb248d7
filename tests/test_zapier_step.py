"""scripts/zapier-code-step.js, run under `node` as Code by Zapier runs a step (its text as the
body of an async function given `inputData`), against the running service."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.settings import Settings
from storage.models import CitizenSession, Thread, ThreadMessage, WebhookDelivery
from tests.fake_telegram import FakeTelegram
from tests.telegram_support import Service, free_port, running_service

STEP = Path(__file__).resolve().parents[1] / "scripts" / "zapier-code-step.js"
SECRET = "zapier-webhook-secret-2b7f9d"
# Code by Zapier: the code is the body of an async function; `inputData` holds the fields.
RUNNER = """
const AsyncFunction = (async () => {}).constructor;
const [path, input] = process.argv.slice(1);
const step = new AsyncFunction("inputData", "require", require("fs").readFileSync(path, "utf8"));
step(JSON.parse(input), require).then(
  (output) => process.stdout.write(JSON.stringify(output)),
  (error) => { process.stderr.write(String(error && error.message)); process.exit(1); },
);
"""
EMAIL = {
    "from_name": "Upwork",
    "from_email": "donotreply@upwork.com",
    "subject": 'New message from Jane Cooper on "Shopify store migration"',
    "body_plain": (
        "Jane Cooper sent you a message:\n\nHi! Could you start on Monday? The budget is fixed."
        "\n\nView the job: https://www.upwork.com/jobs/~01a2b3c4d5?source=email\n"
        "Reply on Upwork"
    ),
    "thread_id": "18c2f0a9e4d17b6a",
    "message_id": "18c2f0a9e4d17b6a-1",
}

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("citizens_home")]


async def run_step(fields: dict[str, str]) -> tuple[int, Any, str]:
    process = await asyncio.create_subprocess_exec(
        "node",
        "-e",
        RUNNER,
        str(STEP),
        json.dumps(fields),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode is not None
    return process.returncode, json.loads(out) if out else None, err.decode()


@pytest.fixture
async def service(make_settings: Callable[..., Settings], fake_telegram: FakeTelegram) -> Any:
    settings = make_settings(port=free_port(), webhook_secret=SECRET, claude_bin="false")
    async with running_service(settings, fake_telegram, wait_ready=False) as running:
        yield running


def inputs(service: Service, **changes: str) -> dict[str, str]:
    return {"url": f"{service.url}/webhook/upwork-response", "secret": SECRET, **EMAIL, **changes}


async def sessions(service: Service) -> int:
    async with service.db() as session:
        return await session.scalar(select(func.count()).select_from(CitizenSession)) or 0


async def delivery_ids(service: Service) -> list[str | None]:
    async with service.db() as session:
        rows = await session.scalars(
            select(WebhookDelivery.webhook_id).order_by(WebhookDelivery.id)  # type: ignore[arg-type]
        )
        return list(rows.all())


def test_the_step_needs_nothing_beyond_node_itself() -> None:
    source = STEP.read_text(encoding="utf-8")
    assert set(re.findall(r"require\(\"([^\"]+)\"\)", source)) == {"crypto"}
    assert "import " not in source


async def test_an_upwork_email_is_accepted_and_a_replay_is_a_duplicate(service: Service) -> None:
    code, answer, err = await run_step(inputs(service))

    assert code == 0, err
    assert answer["accepted"] is True and answer["session_id"] and answer["thread_id"]
    async with service.db() as session:
        thread = await session.get(Thread, answer["thread_id"])
        assert thread is not None
        [message] = (
            await session.scalars(
                select(ThreadMessage).where(ThreadMessage.thread_id == thread.id)
            )
        ).all()
    assert (thread.client, thread.job_title, thread.platform) == (
        "Jane Cooper",
        "Shopify store migration",
        "upwork",
    )
    assert thread.job_link == "https://www.upwork.com/jobs/~01a2b3c4d5?source=email"
    assert thread.external_key == EMAIL["thread_id"]
    assert "Could you start on Monday?" in message.text

    # The delivery's signed id is the Gmail message id, nothing else.
    assert await delivery_ids(service) == [EMAIL["message_id"]]

    # Zapier replays a run, seconds later (a new timestamp, so new signed bytes): the same
    # Gmail message id is the same delivery.
    await asyncio.sleep(1.1)
    code, again, err = await run_step(inputs(service))
    assert code == 0, err
    assert again == {"accepted": False, "duplicate": True}
    assert await sessions(service) == 1

    # The client's next email in that conversation, even with the same text, is new.
    code, nxt, err = await run_step(inputs(service, message_id="18c2f0a9e4d17b6a-2"))
    assert code == 0, err
    assert nxt["accepted"] is True and nxt["thread_id"] == answer["thread_id"]
    assert await sessions(service) == 2
    assert await delivery_ids(service) == [EMAIL["message_id"], "18c2f0a9e4d17b6a-2"]


async def test_a_wrong_secret_throws_the_services_answer(service: Service) -> None:
    code, answer, err = await run_step(inputs(service, secret="not-the-secret"))

    assert code == 1 and answer is None
    assert err.startswith("ScopeLock answered 401:") and "invalid_signature" in err
    assert await sessions(service) == 0


async def test_missing_input_fields_throw_what_to_set(service: Service) -> None:
    code, _, err = await run_step(inputs(service, url=""))

    assert code == 1 and "`url`" in err and "`secret`" in err
    assert await sessions(service) == 0
