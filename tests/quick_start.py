"""Following the README's quick start, step by step, against the fake Bot API.

Word for word, with three stand-ins a test needs: the BotFather token placeholder becomes the
fake's token, the environment points `TELEGRAM_API_BASE_URL` at the fake, and port 8000 is
replaced when it is taken. Telegram's side (step 4, a tap) is the fake delivering updates.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.fake_telegram import FakeTelegram
from tests.service_process import free_port, port_is_free
from tests.telegram_updates import callback_query_update, message_update

REPO = Path(__file__).resolve().parents[1]
PLACEHOLDER = "123456789:AA-paste-yours-here"
TOKEN = "987654321:quick-start-token-5c2e"
NEWCOMER = 5550777
"""The newcomer's Telegram user id: nothing configures it; pairing finds it."""


def quick_start_blocks() -> list[str]:
    """The ```bash blocks of the README's quick start, in order."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Quick start") : readme.index("## Deploy on Render")]
    return re.findall(r"^```bash\n(.*?)^```", section, flags=re.MULTILINE | re.DOTALL)


class FakeTelegramThread:
    """The fake Bot API in a thread of its own, so a test can block on processes meanwhile."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.fake = FakeTelegram(token=TOKEN)

    def run(self, work: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout=30)

    def inject(self, update: dict[str, Any]) -> None:
        async def inject() -> None:
            self.fake.inject_update(update)

        self.run(inject())

    def wait_for(self, predicate: Callable[[FakeTelegram], Any], what: str) -> Any:
        """`predicate(fake)`, run in the fake's loop, until truthy (15 s)."""

        async def wait() -> Any:
            return await self.fake.wait_for(lambda: predicate(self.fake), what=what)

        return self.run(wait())

    def __enter__(self) -> FakeTelegramThread:
        self._thread.start()
        self.run(self.fake.start())
        return self

    def __exit__(self, *_exc: object) -> None:
        self.run(self.fake.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


@contextmanager
def background(script: str, *, cwd: Path, env: dict[str, str]) -> Iterator[Path]:
    """Run a bash script in its own process group; yields its stderr file; SIGTERM at the end."""
    stderr_path = cwd / "quick-start.stderr"
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            ["bash", "-c", script],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )
    try:
        yield stderr_path
        os.killpg(process.pid, signal.SIGTERM)
        assert process.wait(timeout=30) == 0, stderr_path.read_text()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def wait_for_line(path: Path, pattern: str, timeout: float) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(pattern, path.read_text(encoding="utf-8", errors="replace"))
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"no {pattern!r} in {timeout}s:\n{path.read_text()[-4000:]}")


def bash(script: str, *, cwd: Path, env: dict[str, str]) -> str:
    result = subprocess.run(
        ["bash", "-c", "set -eo pipefail\n" + script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"{script}\n{result.stderr}"
    return result.stdout


def follow_quick_start(
    clone: Path, env: dict[str, str], *, start: Callable[[str], str], start_timeout: float
) -> None:
    """Steps 2 to 5 in `clone`; `start` turns step 3's block into what is run."""
    configure, install_and_start, test_draft = quick_start_blocks()
    port = 8000 if port_is_free(8000) else free_port()
    with FakeTelegramThread() as telegram:
        env = {**env, "TELEGRAM_API_BASE_URL": telegram.fake.base_url}
        if port != 8000:
            env["PORT"] = str(port)
        # 2. The token into .env.
        bash(configure.replace(PLACEHOLDER, TOKEN), cwd=clone, env=env)
        # 3. Install and start: the code is in the log.
        with background(start(install_and_start), cwd=clone, env=env) as log:
            code = wait_for_line(log, r"Pairing code: (\S+)", start_timeout)[1]
            # 4. /start <code> from the newcomer's private chat.
            telegram.inject(message_update(f"/start {code}", user_id=NEWCOMER))
            paired = telegram.wait_for(lambda fake: fake.delivered(NEWCOMER), "the pairing")
            assert paired[0]["text"].startswith("✅ Paired.")
            # 5. The test draft: its card arrives in the paired chat; Approve.
            answer = json.loads(bash(test_draft.replace(":8000", f":{port}"), cwd=clone, env=env))
            draft_id = answer["draft_id"]
            card = telegram.wait_for(
                lambda fake: next(
                    (m for m in fake.delivered(NEWCOMER) if draft_id in m["text"]), None
                ),
                "the draft's card",
            )
            assert card["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == (
                f"approve:{draft_id}"
            )
            telegram.inject(
                callback_query_update(
                    f"approve:{draft_id}", user_id=NEWCOMER, message_id=card["message_id"]
                )
            )
            telegram.wait_for(
                lambda fake: "Approved" in fake.message(NEWCOMER, card["message_id"])["text"],
                "the card to show the approval",
            )
            status = bash(
                f"curl -fsS http://127.0.0.1:{port}/api/draft/{draft_id}", cwd=clone, env=env
            )
            assert json.loads(status)["status"] == "approved"
