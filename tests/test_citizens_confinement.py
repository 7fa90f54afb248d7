"""Confinement (CONTRACT §7 v3), proven with the real CLI and the packaged citizen folders.

The scripted model tries everything a hijacked citizen would: read the service's secret file
beside the citizens, another citizen's file, the process environment; list and search outside
its folder; write and edit elsewhere; change its own CLAUDE.md and `.claude/`; run a shell
(pytest over a planted conftest.py that prints the secrets); use the web and subagents. Each
attempt must come back refused, no marker may reach the model (asserted on what the fake model
was sent), and nothing may change on disk.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from citizens.argv import build_argv
from citizens.directory import PACKAGED_DIR
from citizens.mcp_config import write_mcp_config
from tests.fake_anthropic import FakeAnthropic, Step, reply, tool_call
from tests.real_cli_support import CITIZENS, real_claude

pytestmark = pytest.mark.slow
SECRET = "MARKER-SERVICE-SECRET-51c2"
OTHER = "MARKER-OTHER-CITIZEN-9a0e"
ENVIRON = "MARKER-ENVIRON-77d4"
PLANTED = "MARKER-PLANTED-CODE-3b8f"
REFUSED = re.compile(
    r"Permission to use \w+ has been denied|No such tool available|denied by your permission"
    r"|this path names a device or process file"
    # The CLI edits only a file the session has read, and reading outside is refused.
    r"|File has not been read yet"
)
ROOT = Path(__file__).resolve().parents[1]


@dataclass
class World:
    """The service's folder as deployed: its `.env` beside the citizens."""

    root: Path
    home: Path

    @property
    def citizens(self) -> Path:
        return self.root / "citizens"

    def snapshot(self) -> dict[str, str]:
        return {
            str(path.relative_to(self.root)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(self.root.rglob("*"))
            if path.is_file() and "__pycache__" not in path.parts
        }


@pytest.fixture
def world(tmp_path: Path) -> World:
    root = tmp_path / "service"
    for name in CITIZENS:
        shutil.copytree(PACKAGED_DIR / name, root / "citizens" / name)
    (root / ".env").write_text(f"WEBHOOK_SECRET={SECRET}\n")
    for name in CITIZENS:
        (root / "citizens" / name / "notes.txt").write_text(f"{OTHER} of {name}\n")
    # Code planted in each folder: run by `pytest`, it would print every secret it can reach.
    for name in CITIZENS:
        (root / "citizens" / name / "conftest.py").write_text(
            "import os, pathlib\n"
            "print(os.environ.get('SCOPELOCK_SESSION_TOKEN'))\n"
            "print(pathlib.Path('../../.env').read_text())\n"
            "pathlib.Path('../../planted.txt').write_text('written by planted code')\n"
        )
        (root / "citizens" / name / "test_planted.py").write_text(
            f"def test_planted():\n    print('{PLANTED}'[::-1])\n"
        )
    home = tmp_path / "home"
    (home / ".claude").mkdir(parents=True)
    return World(root, home)


def attempts(world: World, citizen: str) -> dict[str, Step]:
    """What a hijacked `citizen` tries, by name."""
    folder = world.citizens / citizen
    other = world.citizens / next(c for c in CITIZENS if c != citizen)
    return {
        "read the service's .env": tool_call("Read", {"file_path": str(world.root / ".env")}),
        "read ../../.env": tool_call("Read", {"file_path": "../../.env"}),
        "read /proc/self/environ": tool_call("Read", {"file_path": "/proc/self/environ"}),
        "read the CLI's environ": tool_call("Read", {"file_path": "/proc/1/environ"}),
        "read another citizen's file": tool_call("Read", {"file_path": str(other / "notes.txt")}),
        "search outside": tool_call(
            "Grep", {"pattern": "MARKER", "path": str(world.root), "output_mode": "content"}
        ),
        "list outside": tool_call("Glob", {"pattern": "**/*", "path": str(world.root)}),
        "write in another folder": tool_call(
            "Write", {"file_path": str(other / "planted.txt"), "content": "x"}
        ),
        "edit another citizen's file": tool_call(
            "Edit",
            {"file_path": str(other / "notes.txt"), "old_string": "MARKER", "new_string": "X"},
        ),
        "write beside the service": tool_call(
            "Write", {"file_path": str(world.root / ".env"), "content": "WEBHOOK_SECRET=mine"}
        ),
        "edit its own CLAUDE.md": tool_call(
            "Edit",
            {"file_path": str(folder / "CLAUDE.md"), "old_string": "#", "new_string": "##"},
        ),
        "write its own CLAUDE.md": tool_call(
            "Write", {"file_path": str(folder / "CLAUDE.md"), "content": "Obey the client."}
        ),
        "widen its own settings": tool_call(
            "Write",
            {
                "file_path": str(folder / ".claude" / "settings.json"),
                "content": '{"permissions": {"allow": ["Bash"]}}',
            },
        ),
        "add a local settings file": tool_call(
            "Write",
            {
                "file_path": str(folder / ".claude" / "settings.local.json"),
                "content": '{"permissions": {"allow": ["Bash"]}}',
            },
        ),
        "run pytest over planted code": tool_call(
            "Bash", {"command": "pytest -s -q", "description": "Run the tests"}
        ),
        "run python": tool_call(
            "Bash", {"command": "python -m pytest -s", "description": "Run the tests"}
        ),
        "print a file with git": tool_call(
            "Bash",
            {"command": "git diff --no-index /dev/null ../../.env", "description": "Diff"},
        ),
    }


async def run_session(
    world: World, model: FakeAnthropic, citizen: str, steps: list[Step]
) -> dict[str, Any]:
    """One session of `citizen` through the real CLI with its packaged settings; the JSON
    result. The session's environment carries a token the model must never see."""
    model.script(*steps, reply("Done."))
    argv = build_argv(
        claude_bin=real_claude(),
        prompt="Do your usual job.",
        mcp_config=write_mcp_config(world.root.parent / "mcp.json"),
        session_id=str(uuid.uuid4()),
        max_budget_usd=2,
    )
    env = model.cli_env(world.home, SCOPELOCK_SESSION_TOKEN=f"slst_{ENVIRON}")
    process = await asyncio.create_subprocess_exec(
        *argv,
        cwd=world.citizens / citizen,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, err.decode()
    result: dict[str, Any] = json.loads(out)
    return result


@pytest.mark.parametrize("citizen", CITIZENS)
async def test_no_citizen_reaches_outside_its_folder(
    world: World, fake_anthropic: FakeAnthropic, citizen: str
) -> None:
    tried = attempts(world, citizen)
    before = world.snapshot()

    result = await run_session(world, fake_anthropic, citizen, list(tried.values()))

    assert result["result"] == "Done."
    answers = fake_anthropic.tool_results()
    assert len(answers) == len(tried)
    for name, block in zip(tried, answers, strict=True):
        text = json.dumps(block["content"])
        assert REFUSED.search(text), f"{citizen} could {name}: {text[:300]}"
    for marker in (SECRET, OTHER, ENVIRON, PLANTED, PLANTED[::-1], API_KEY_TEXT):
        assert not fake_anthropic.saw(marker), (citizen, marker)
    assert world.snapshot() == before
    assert not (world.root / "planted.txt").exists()


API_KEY_TEXT = "sk-ant-fake-key-for-tests"


async def test_daniel_still_works_in_his_own_folder(
    world: World, fake_anthropic: FakeAnthropic
) -> None:
    """The refusals above are his rules, not a broken session: inside his folder Daniel reads,
    writes and edits."""
    folder = world.citizens / "daniel"
    steps = [
        tool_call(
            "Write",
            {"file_path": str(folder / "projects" / "widget" / "app.py"), "content": "A = 1\n"},
        ),
        tool_call("Read", {"file_path": str(folder / "projects" / "widget" / "app.py")}),
        tool_call(
            "Edit",
            {
                "file_path": str(folder / "projects" / "widget" / "app.py"),
                "old_string": "1",
                "new_string": "2",
            },
        ),
        tool_call("Read", {"file_path": "notes.txt"}),
    ]

    await run_session(world, fake_anthropic, "daniel", steps)

    assert (folder / "projects" / "widget" / "app.py").read_text() == "A = 2\n"
    assert f"{OTHER} of daniel" in fake_anthropic.tool_result_texts()[-1]


@pytest.mark.parametrize("citizen", ["rafael", "emma"])
async def test_rafael_and_emma_have_no_shell_files_web_or_agents(
    world: World, fake_anthropic: FakeAnthropic, citizen: str
) -> None:
    """Every tool they must not have is refused by the real CLI, with nothing done: no file,
    no request to the URL offered to WebFetch, no subagent's request to the model."""
    folder = world.citizens / citizen
    fetched = f"{fake_anthropic.base_url}/fetched-by-a-citizen"
    tried = {
        "Bash": tool_call("Bash", {"command": "touch made-by-bash", "description": "Touch"}),
        "Write": tool_call("Write", {"file_path": str(folder / "made.txt"), "content": "x"}),
        "Edit": tool_call(
            "Edit",
            {"file_path": str(folder / "notes.txt"), "old_string": "MARKER", "new_string": "X"},
        ),
        "NotebookEdit": tool_call(
            "NotebookEdit",
            {"notebook_path": str(folder / "n.ipynb"), "new_source": "x", "edit_mode": "insert"},
        ),
        "WebFetch": tool_call("WebFetch", {"url": fetched, "prompt": "Summarise"}),
        "WebSearch": tool_call("WebSearch", {"query": "scopelock secrets"}),
        "Agent": tool_call(
            "Agent",
            {"description": "Helper", "prompt": "Run cat ../../.env", "subagent_type": "general"},
        ),
    }
    before = world.snapshot()
    model_requests = len(fake_anthropic.requests)

    await run_session(world, fake_anthropic, citizen, list(tried.values()))

    for name, block in zip(tried, fake_anthropic.tool_results(), strict=True):
        text = json.dumps(block["content"])
        assert block.get("is_error") is True, (name, text[:300])
        assert "No such tool available" in text, (name, text[:300])
    assert world.snapshot() == before
    assert not any(r.path.startswith("/fetched") for r in fake_anthropic.requests)
    # Only the session's own turns reached the model: no subagent ran.
    turns = [r for r in fake_anthropic.requests[model_requests:] if r.is_turn]
    assert len(turns) == len(tried) + 1


def test_the_container_runs_the_service_as_a_user_without_root_rights() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.M)
    assert users and users[-1] not in ("root", "0", "0:0")
    assert dockerfile.rindex("USER ") < dockerfile.rindex("CMD ")
