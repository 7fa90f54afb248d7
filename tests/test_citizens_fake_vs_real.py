"""The fake `claude` (tests/fake_claude.py, for the fast tests) against the real CLI: the same
argv, folder and case through both, and what ScopeLock reads of them must agree: the JSON
result's shape, the exit code, the conversation's id and cost across a resume, the budget
stop's `errors`, the every-run stderr line, and the refusal of an unknown conversation.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from citizens.argv import build_argv
from citizens.mcp_config import write_mcp_config
from citizens.results import meaningful_stderr
from tests.citizens_support import FakeClaude
from tests.fake_anthropic import FakeAnthropic, Usage, reply, tool_call
from tests.real_cli_support import copy_citizens, real_claude

pytestmark = pytest.mark.slow
# What ScopeLock reads of a result, and the type each has in the real CLI's.
READ_FIELDS = {
    "type": str,
    "subtype": str,
    "is_error": bool,
    "session_id": str,
    "total_cost_usd": float,
    "num_turns": int,
    "duration_ms": int,
}


class Both:
    """Runs one case through the real CLI (its model scripted) and through the fake."""

    def __init__(self, tmp_path: Path, model: FakeAnthropic, fake: FakeClaude) -> None:
        self.model = model
        self.fake = fake
        self.citizens = copy_citizens(tmp_path)
        self.config = write_mcp_config(tmp_path / "mcp.json")
        self.homes = {"real": tmp_path / "real-home", "fake": tmp_path / "fake-home"}
        for home in self.homes.values():
            (home / ".claude").mkdir(parents=True)

    async def run(
        self,
        which: str,
        prompt: str,
        *,
        session_id: str | None = None,
        resume_id: str | None = None,
        budget: float = 2,
    ) -> tuple[int, dict[str, Any] | None, str]:
        argv = build_argv(
            claude_bin=real_claude() if which == "real" else str(self.fake.bin),
            prompt=prompt,
            mcp_config=self.config,
            session_id=session_id,
            resume_id=resume_id,
            max_budget_usd=budget,
        )
        env = self.model.cli_env(self.homes[which])
        env |= {k: v for k, v in os.environ.items() if k.startswith("FAKE_CLAUDE_")}
        # Asynchronously: the fake model answers from this test's event loop.
        process = await asyncio.create_subprocess_exec(
            *argv,
            cwd=self.citizens / "rafael",
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 120)
        stdout = out.decode()
        result = json.loads(stdout) if stdout.strip() else None
        stderr = err.decode().replace(str(self.homes[which]), "HOME")
        assert process.returncode is not None
        return process.returncode, result, stderr


@pytest.fixture
def both(tmp_path: Path, fake_anthropic: FakeAnthropic, fake_claude: FakeClaude) -> Both:
    return Both(tmp_path, fake_anthropic, fake_claude)


def shape(result: dict[str, Any]) -> dict[str, type]:
    return {name: type(result[name]) for name in READ_FIELDS if name in result}


async def test_a_session_and_its_resume_agree(both: Both) -> None:
    first_usage, second_usage = Usage(4000, 100), Usage(1000, 50)
    runs: dict[str, list[tuple[int, dict[str, Any] | None, str]]] = {}
    for which in ("real", "fake"):
        conversation = str(uuid.uuid4())
        both.model.script(reply("First answer.", usage=first_usage))
        first = await both.run(
            which,
            f"Hello.\nFAKE:cost={first_usage.cost_usd}\nFAKE:result=First answer.",
            session_id=conversation,
        )
        both.model.script(reply("Second answer.", usage=second_usage))
        second = await both.run(
            which,
            f"Again.\nFAKE:cost={second_usage.cost_usd}\nFAKE:result=Second answer.",
            resume_id=conversation,
        )
        runs[which] = [first, second]
        for code, result, _ in (first, second):
            assert code == 0 and result is not None
            assert result["session_id"] == conversation
        assert first[1] is not None and second[1] is not None
        assert first[1]["total_cost_usd"] == pytest.approx(first_usage.cost_usd)
        # The resumed run reports the whole conversation's cost, in both.
        assert second[1]["total_cost_usd"] == pytest.approx(
            first_usage.cost_usd + second_usage.cost_usd
        )
        assert (first[1]["result"], second[1]["result"]) == ("First answer.", "Second answer.")
    real, fake = runs["real"][0], runs["fake"][0]
    assert real[1] is not None and fake[1] is not None
    assert shape(real[1]) == READ_FIELDS
    assert shape(fake[1]) == shape(real[1])
    assert set(fake[1]) <= set(real[1])
    # The line both write on every run (the folder's allow rules), word for word.
    assert fake[2].strip() == real[2].strip()
    assert real[2].startswith("Ignoring 1 permissions.allow entry from .claude/settings.json")
    assert meaningful_stderr(real[2]) == ""


async def test_the_budget_stop_agrees(both: Both) -> None:
    outcomes = {}
    for which in ("real", "fake"):
        both.model.script(
            tool_call("Read", {"file_path": "CLAUDE.md"}, usage=Usage(5000, 5)), reply("unseen")
        )
        code, result, _ = await both.run(
            which,
            "Go.\nFAKE:subtype=error_max_budget_usd",
            session_id=str(uuid.uuid4()),
            budget=0.01,
        )
        assert result is not None
        outcomes[which] = (
            code,
            result["is_error"],
            result["subtype"],
            result.get("errors"),
            "result" in result,
        )
    assert outcomes["real"] == (
        1,
        True,
        "error_max_budget_usd",
        ["Reached maximum budget ($0.01)"],
        False,
    )
    assert outcomes["fake"] == outcomes["real"]


async def test_an_unknown_conversation_is_refused_alike(both: Both) -> None:
    gone = str(uuid.uuid4())
    refusals = {
        which: await both.run(which, "Go on.", resume_id=gone) for which in ("real", "fake")
    }

    for code, result, stderr in refusals.values():
        assert (code, result) == (1, None)
        assert f"No conversation found with session ID: {gone}" in stderr
    assert len(both.model.requests) == 0  # the real CLI asked the model nothing
