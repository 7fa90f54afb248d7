"""Where the CLI keeps a conversation's transcript, so the database can hold it between runs.

Claude Code 2.1 writes each conversation to
`$CLAUDE_CONFIG_DIR/projects/<folder key>/<session id>.jsonl` (`~/.claude` without the
variable), the folder key being the working directory's absolute path with every character
other than A-Z, a-z and 0-9 turned into `-`. `--resume <id>` reads that file, nothing else.
tests/test_worker_conversations.py pins this against the real CLI, so an upgrade that moves it
fails loudly. A transcript is the thread's data: never logged, never shown.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

# Above this, a conversation is not kept: the thread's next session starts a new one that
# reads the thread instead (it would cost more to resume than to read, and bloat the rows).
MAX_TRANSCRIPT_BYTES = 8 * 1024 * 1024
_NOT_IN_KEY = re.compile(r"[^A-Za-z0-9]")


def config_dir(env: Mapping[str, str]) -> Path:
    """The CLI's configuration folder in the environment it runs with."""
    configured = env.get("CLAUDE_CONFIG_DIR")
    if configured:
        return Path(configured)
    return Path(env.get("HOME") or Path.home()) / ".claude"


def folder_key(folder: Path) -> str:
    return _NOT_IN_KEY.sub("-", str(folder.resolve()))


def path_of(env: Mapping[str, str], folder: Path, claude_session_id: str) -> Path:
    return config_dir(env) / "projects" / folder_key(folder) / f"{claude_session_id}.jsonl"


def read(env: Mapping[str, str], folder: Path, claude_session_id: str) -> bytes | None:
    """The transcript the CLI left for this conversation; None when there is none."""
    if not _safe_id(claude_session_id):
        return None
    try:
        return path_of(env, folder, claude_session_id).read_bytes()
    except OSError:
        return None


def write_back(env: Mapping[str, str], folder: Path, claude_session_id: str, data: bytes) -> None:
    """Put a stored transcript where `--resume` looks for it (replacing any local copy)."""
    if not _safe_id(claude_session_id):
        return
    path = path_of(env, folder, claude_session_id)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    partial = path.with_suffix(".jsonl.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(data)
    partial.replace(path)


def _safe_id(claude_session_id: str) -> bool:
    """The id comes from the CLI's output: it must name a file in that folder, nothing else."""
    return bool(re.fullmatch(r"[A-Za-z0-9_-]{1,100}", claude_session_id))
