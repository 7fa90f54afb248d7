"""The argument list of one citizen session: the flags of the pinned Claude Code CLI.

Every flag here is accepted by the version in `claude-code-version.txt` (the real-CLI tests
run this list through it). No credential is ever part of it: they travel in the
environment.

Permissions: in print mode the CLI drops the `permissions.allow` rules of a folder's
`.claude/settings.json` (the workspace was never "trusted" by a person), keeping only its deny
rules. So the folder's file is also passed with `--settings`, which the CLI reads as flag
settings (allow and deny both apply), and `--permission-mode dontAsk` denies whatever the file
does not allow instead of waiting for an answer nobody can give. The path is relative: the
session runs in the citizen's folder.
"""

from __future__ import annotations

from pathlib import Path

SETTINGS_FILE = Path(".claude") / "settings.json"
PERMISSION_MODE = "dontAsk"


def build_argv(
    *,
    claude_bin: str,
    prompt: str,
    mcp_config: Path,
    session_id: str | None = None,
    resume_id: str | None = None,
    max_budget_usd: float | None,
) -> list[str]:
    """The CLI's argv: exactly one of `session_id` (a new conversation, a UUID) and
    `resume_id` (the id the previous session's JSON result reported). Never `--continue`."""
    if (session_id is None) == (resume_id is None):
        raise ValueError("exactly one of session_id and resume_id is needed")
    argv = [claude_bin, "--print", prompt, "--output-format", "json"]
    if session_id is not None:
        argv += ["--session-id", session_id]
    else:
        assert resume_id is not None
        argv += ["--resume", resume_id]
    argv += ["--mcp-config", str(mcp_config), "--strict-mcp-config"]
    argv += ["--permission-mode", PERMISSION_MODE, "--settings", str(SETTINGS_FILE)]
    if max_budget_usd is not None:
        argv += ["--max-budget-usd", _amount(max_budget_usd)]
    return argv


def _amount(usd: float) -> str:
    """A plain decimal (`2`, `0.5`): never the exponent form `1e+06`."""
    return f"{usd:.6f}".rstrip("0").rstrip(".")
