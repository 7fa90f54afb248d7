"""The `--mcp-config` file of a session: ScopeLock's MCP server, named `scopelock`.

How the server gets its settings (verified with the pinned CLI, see
tests/test_citizens_real_cli.py): Claude Code starts a stdio server with the CLI's own
environment, and expands `${VAR}` / `${VAR:-default}` in the server's `env` block from it. The
file therefore names the variables by reference only (`${SCOPELOCK_SESSION_TOKEN:-}`): the
session token reaches the server through the session's environment, never through this file or
any argument list. The file is written with mode 0600 all the same.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

SERVER_NAME = "scopelock"
# What `scopelock mcp` reads; each is forwarded from the CLI's environment by reference.
FORWARDED_ENV = (
    "BACKEND_API_URL",
    "SCOPELOCK_SESSION_TOKEN",
    "SCOPELOCK_SESSION_ID",
    "SCOPELOCK_THREAD_ID",
)


def server_entry(python: str | None = None) -> dict[str, Any]:
    """The `scopelock` server: this interpreter running `python -m bot mcp`."""
    return {
        "type": "stdio",
        "command": python or sys.executable,
        "args": ["-m", "bot", "mcp"],
        # `:-` so an unset variable (a session with no thread) becomes empty, not `${...}`.
        "env": {name: f"${{{name}:-}}" for name in FORWARDED_ENV},
    }


def write_mcp_config(path: Path, *, python: str | None = None) -> Path:
    """Write the config to `path` (mode 0600, replacing any older file) and return it."""
    document = {"mcpServers": {SERVER_NAME: server_entry(python)}}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        json.dump(document, file, indent=2)
    return path
