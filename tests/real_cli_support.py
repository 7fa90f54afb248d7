"""Fixtures for running citizen sessions through the real Claude Code CLI against the scripted
model of tests/fake_anthropic.py.

The CLI is the pinned one on PATH (a missing CLI fails, never skips). Each test gets a scratch
HOME / CLAUDE_CONFIG_DIR (where the CLI keeps its transcripts), the packaged citizen folders
copied (their real CLAUDE.md and `.claude/settings.json`), and `ANTHROPIC_BASE_URL` aimed at its
own fake model. The service passes those variables on to the CLI as it would in production.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from citizens.cli_version import pinned_version
from citizens.directory import PACKAGED_DIR
from tests.fake_anthropic import API_KEY, FakeAnthropic

CITIZENS = ("rafael", "emma", "daniel")


def real_claude() -> str:
    """The installed CLI; the test fails when it is missing."""
    path = shutil.which("claude")
    if path is None:
        pytest.fail(
            f"the Claude Code CLI is not installed: npm install -g @anthropic-ai/claude-code@"
            f"{pinned_version()} (.ci/run does it)"
        )
    return path


def copy_citizens(parent: Path) -> Path:
    """`parent/citizens` holding the packaged citizen folders, as shipped."""
    root = parent / "citizens"
    for name in CITIZENS:
        shutil.copytree(PACKAGED_DIR / name, root / name)
    return root


@dataclass
class RealCli:
    """What a test needs to run sessions through the real CLI."""

    model: FakeAnthropic
    home: Path
    citizens: Path

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """Settings fields that point the service at the real CLI and these folders."""
        values: dict[str, Any] = {
            "claude_bin": real_claude(),
            "citizens_dir": self.citizens,
            "anthropic_api_key": API_KEY,
            "citizen_timeout_s": 120,
        }
        return values | overrides

    def transcripts(self) -> list[Path]:
        """The CLI's conversation files (what `--resume` reads)."""
        return sorted((self.home / ".claude" / "projects").glob("*/*.jsonl"))


@pytest.fixture
async def fake_anthropic() -> AsyncIterator[FakeAnthropic]:
    """A started scripted model (tests/fake_anthropic.py)."""
    fake = FakeAnthropic()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
def real_cli(
    fake_anthropic: FakeAnthropic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> RealCli:
    """The service's environment set for the real CLI: its model is `fake_anthropic`."""
    home = tmp_path / "home"
    (home / ".claude").mkdir(parents=True)
    for name, value in fake_anthropic.cli_env(home).items():
        if name not in ("PATH", "ANTHROPIC_API_KEY"):  # the key travels in the settings
            monkeypatch.setenv(name, value)
    return RealCli(model=fake_anthropic, home=home, citizens=copy_citizens(tmp_path))
