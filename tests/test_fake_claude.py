"""The fake `claude` of the tests behaves like the pinned real one where ScopeLock relies on it:
the same refusals (checked side by side with the real CLI), the JSON result, conversations
that `--resume` finds, and the `scopelock` MCP server's tools called over stdio."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.settings import Settings
from citizens.argv import build_argv
from citizens.mcp_config import write_mcp_config
from storage.models import Note
from tests.citizens_support import FakeClaude, make_citizens_dir
from tests.conftest import API_TOKEN
from tests.reliability.live_server import live_server

pytestmark = pytest.mark.slow


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return make_citizens_dir(tmp_path / "c") / "rafael"


def run(bin_: str, argv: list[str], folder: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "HOME": str(folder.parent.parent / "home"), **env}
    return subprocess.run(
        [bin_, *argv],
        cwd=folder,
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def session_argv(tmp_path: Path, prompt: str, **ids: str) -> list[str]:
    argv = build_argv(
        claude_bin="claude",
        prompt=prompt,
        mcp_config=write_mcp_config(tmp_path / "mcp.json"),
        max_budget_usd=2,
        **ids,
    )
    return argv[1:]


def test_a_session_prints_the_json_result_with_its_id(
    fake_claude: FakeClaude, tmp_path: Path, folder: Path
) -> None:
    session_id = str(uuid.uuid4())

    done = run(
        str(fake_claude.bin), session_argv(tmp_path, "Hello.", session_id=session_id), folder
    )

    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["type"] == "result" and result["subtype"] == "success"
    assert (result["is_error"], result["session_id"], result["num_turns"]) == (
        False,
        session_id,
        1,
    )
    assert {"result", "total_cost_usd", "duration_ms"} <= set(result)


def test_resume_continues_the_conversation_and_an_unknown_one_fails(
    fake_claude: FakeClaude, tmp_path: Path, folder: Path
) -> None:
    first = str(uuid.uuid4())
    run(str(fake_claude.bin), session_argv(tmp_path, "One.", session_id=first), folder)

    resumed = run(str(fake_claude.bin), session_argv(tmp_path, "Two.", resume_id=first), folder)
    gone = str(uuid.uuid4())
    lost = run(str(fake_claude.bin), session_argv(tmp_path, "Three.", resume_id=gone), folder)

    assert json.loads(resumed.stdout)["num_turns"] == 2
    assert fake_claude.calls()[-1]["earlier_prompts"] == ["One."]
    assert (lost.returncode, lost.stdout) == (1, "")
    assert f"No conversation found with session ID: {gone}" in lost.stderr


def test_a_failed_result_exits_1_with_is_error(
    fake_claude: FakeClaude, tmp_path: Path, folder: Path
) -> None:
    prompt = "Hello.\nFAKE:subtype=error_max_budget_usd"
    done = run(
        str(fake_claude.bin), session_argv(tmp_path, prompt, session_id=str(uuid.uuid4())), folder
    )

    result = json.loads(done.stdout)
    assert done.returncode == 1
    assert (result["is_error"], result["subtype"]) == (True, "error_max_budget_usd")


def test_it_records_its_whole_environment(
    fake_claude: FakeClaude, tmp_path: Path, folder: Path
) -> None:
    run(
        str(fake_claude.bin),
        session_argv(tmp_path, "Hi.", session_id=str(uuid.uuid4())),
        folder,
        SOME_OTHER_VARIABLE="seen",
    )

    (call,) = fake_claude.calls()
    assert call["env"]["SOME_OTHER_VARIABLE"] == "seen"
    assert call["env"]["HOME"].endswith("home")


REFUSALS = {
    "unknown flag": lambda t, f: ["--print", "x", "--no-such-flag"],
    "bad uuid": lambda t, f: ["--print", "x", "--session-id", "not-a-uuid"],
    "bad format": lambda t, f: ["--print", "x", "--output-format", "yaml"],
    "id and resume": lambda t, f: ["--print", "x", "--session-id", f, "--resume", f],
    "unknown conversation": lambda t, f: session_argv(t, "x", resume_id=f),
    "missing mcp config": lambda t, f: ["--print", "x", "--mcp-config", str(t / "none.json")],
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_it_refuses_what_the_real_cli_refuses(
    fake_claude: FakeClaude, tmp_path: Path, folder: Path, case: str
) -> None:
    real = shutil.which("claude")
    assert real is not None, "the pinned Claude Code CLI is not installed"
    argv = REFUSALS[case](tmp_path, str(uuid.uuid4()))
    (folder.parent.parent / "home").mkdir(exist_ok=True)

    theirs = run(real, argv, folder)
    ours = run(str(fake_claude.bin), argv, folder)

    assert (theirs.returncode, theirs.stdout) == (1, ""), theirs.stdout
    assert (ours.returncode, ours.stdout) == (1, "")
    assert ours.stderr.strip().splitlines()[-1] == theirs.stderr.strip().splitlines()[-1]


def test_a_reused_session_id_is_refused_like_the_real_cli(
    fake_claude: FakeClaude, tmp_path: Path, folder: Path
) -> None:
    session_id = str(uuid.uuid4())
    argv = session_argv(tmp_path, "x", session_id=session_id)
    run(str(fake_claude.bin), argv, folder)

    again = run(str(fake_claude.bin), argv, folder)

    assert (again.returncode, again.stdout) == (1, "")
    assert f"Error: Session ID {session_id} is already in use." in again.stderr


@pytest.fixture
def service_url(settings: Settings, engine: Any) -> Iterator[str]:
    with live_server(settings) as url:
        yield url


async def test_it_calls_the_scopelock_servers_tools_as_scripted(
    fake_claude: FakeClaude,
    tmp_path: Path,
    folder: Path,
    service_url: str,
    db: async_sessionmaker[AsyncSession],
) -> None:
    script = tmp_path / "tools.json"
    script.write_text(json.dumps([{"tool": "write_note", "arguments": {"text": "from a file"}}]))
    prompt = 'Hello.\nFAKE:tool=write_note {"text": "from the prompt"}\nFAKE:tool=get_thread'
    argv = session_argv(tmp_path, prompt, session_id=str(uuid.uuid4()))

    done = run(
        str(fake_claude.bin),
        argv,
        folder,
        BACKEND_API_URL=service_url,
        SCOPELOCK_SESSION_TOKEN=API_TOKEN,
        FAKE_CLAUDE_TOOLS=str(script),
    )

    assert done.returncode == 0, done.stderr
    (end,) = fake_claude.ends()
    assert [(t["tool"], t["is_error"]) for t in end["tools"]] == [
        ("write_note", False),
        ("write_note", False),
        ("get_thread", True),
    ]
    assert end["tools"][2]["text"].endswith("this session has no thread")
    async with db() as session:
        texts = sorted(note.text for note in (await session.scalars(select(Note))).all())
    assert texts == ["from a file", "from the prompt"]
