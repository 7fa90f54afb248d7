"""The one pinned version of the Claude Code CLI (`claude-code-version.txt`).

`.ci/run`, the Dockerfile and the tests read that file; the service itself never checks it.
"""

from __future__ import annotations

from pathlib import Path

VERSION_FILE = Path(__file__).with_name("claude-code-version.txt")
NPM_PACKAGE = "@anthropic-ai/claude-code"


def pinned_version() -> str:
    return VERSION_FILE.read_text(encoding="utf-8").strip()
