"""The pinned Claude Code CLI itself (CONTRACT §7): offline, with an empty HOME and no
credentials. It proves that every flag of a session's argv exists, that the `--mcp-config`
file starts `scopelock mcp` with the session's environment, and that each citizen's
`.claude/settings.json` is valid and read. A missing or different CLI fails these tests.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from citizens.argv import build_argv
from citizens.cli_version import pinned_version
from citizens.directory import PACKAGED_DIR
from citizens.mcp_config import FORWARDED_ENV, SERVER_NAME, write_mcp_config

pytestmark = pytest.mark.slow
NOT_LOGGED_IN = "Not logged in · Please run /login"
CITIZENS = ("rafael", "emma", "daniel")


def claude_bin() -> str:
    path = shutil.which("claude")
    if path is None:
        pytest.fail(
            f"the Claude Code CLI is not installed: npm install -g @anthropic-ai/claude-code@"
            f"{pinned_version()} (.ci/run does it)"
        )
    return path


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "home").mkdir()
    return tmp_path / "home"


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    """No credentials and nothing of the test process but PATH: an empty scratch HOME."""
    return {"PATH": os.environ["PATH"], "HOME": str(home), **extra}


def run(argv: list[str], *, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def citizen_copy(tmp_path: Path, name: str) -> Path:
    """The packaged citizen folder (CLAUDE.md and .claude/settings.json), copied."""
    folder = tmp_path / "citizens" / name
    shutil.copytree(PACKAGED_DIR / name, folder)
    return folder


def test_the_installed_cli_is_the_pinned_version() -> None:
    done = run([claude_bin(), "--version"], cwd=Path.cwd(), env=dict(os.environ))

    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[0] == pinned_version()


def test_a_new_sessions_argv_is_accepted_and_ends_with_a_json_result(
    tmp_path: Path, home: Path
) -> None:
    folder = citizen_copy(tmp_path, "rafael")
    session_id = str(uuid.uuid4())
    argv = build_argv(
        claude_bin=claude_bin(),
        prompt="A client replied on Upwork.",
        mcp_config=write_mcp_config(tmp_path / "mcp.json"),
        session_id=session_id,
        max_budget_usd=2,
    )

    done = run(argv, cwd=folder, env=cli_env(home))

    result = json.loads(done.stdout)
    assert done.returncode == 1
    assert result["type"] == "result"
    assert result["is_error"] is True
    assert result["result"] == NOT_LOGGED_IN
    assert result["session_id"] == session_id
    assert {"subtype", "total_cost_usd", "num_turns", "duration_ms"} <= set(result)


def test_a_resumed_sessions_argv_is_accepted_too(tmp_path: Path, home: Path) -> None:
    folder = citizen_copy(tmp_path, "emma")
    config = write_mcp_config(tmp_path / "mcp.json")
    first = str(uuid.uuid4())
    common = {"claude_bin": claude_bin(), "prompt": "Go on.", "mcp_config": config}
    run(build_argv(**common, session_id=first, max_budget_usd=None), cwd=folder, env=cli_env(home))

    done = run(
        build_argv(**common, resume_id=first, max_budget_usd=0.5), cwd=folder, env=cli_env(home)
    )

    result = json.loads(done.stdout)
    assert (result["is_error"], result["result"]) == (True, NOT_LOGGED_IN)
    assert result["session_id"] == first


def test_resuming_an_unknown_conversation_fails_with_no_result(tmp_path: Path, home: Path) -> None:
    folder = citizen_copy(tmp_path, "rafael")
    gone = str(uuid.uuid4())
    argv = build_argv(
        claude_bin=claude_bin(),
        prompt="Go on.",
        mcp_config=write_mcp_config(tmp_path / "mcp.json"),
        resume_id=gone,
        max_budget_usd=2,
    )

    done = run(argv, cwd=folder, env=cli_env(home))

    assert done.returncode == 1
    assert done.stdout == ""
    assert f"No conversation found with session ID: {gone}" in done.stderr


def test_an_unknown_flag_is_refused_so_the_tests_above_prove_something(
    tmp_path: Path, home: Path
) -> None:
    argv = [
        *build_argv(
            claude_bin=claude_bin(),
            prompt="Hello.",
            mcp_config=write_mcp_config(tmp_path / "mcp.json"),
            session_id=str(uuid.uuid4()),
            max_budget_usd=2,
        ),
        "--no-such-flag",
    ]

    done = run(argv, cwd=citizen_copy(tmp_path, "rafael"), env=cli_env(home))

    assert done.returncode == 1
    assert done.stdout == ""
    assert "unknown option '--no-such-flag'" in done.stderr


def test_the_mcp_config_file_holds_no_secret_and_is_private(tmp_path: Path) -> None:
    path = write_mcp_config(tmp_path / "mcp.json")

    document = json.loads(path.read_text())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    (name,) = document["mcpServers"]
    entry = document["mcpServers"][name]
    assert name == SERVER_NAME
    assert (entry["command"], entry["args"]) == (sys.executable, ["-m", "bot", "mcp"])
    assert entry["env"] == {var: f"${{{var}:-}}" for var in FORWARDED_ENV}


def test_the_cli_connects_to_scopelock_mcp_with_the_sessions_environment(
    tmp_path: Path, home: Path
) -> None:
    """`claude mcp add-json` + `claude mcp get` start the server from our config entry; a
    wrapper records the environment the server got: the session's variables by reference,
    the others inherited from the CLI (so none needs to be in the file or in argv)."""
    seen = tmp_path / "server-env.json"
    wrapper = tmp_path / "python-wrapper"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'"{sys.executable}" -c \'import json, os, sys; '
        f'json.dump(dict(os.environ), open(sys.argv[1], "w"))\' "{seen}"\n'
        f'exec "{sys.executable}" "$@"\n'
    )
    wrapper.chmod(0o755)
    config = write_mcp_config(tmp_path / "mcp.json", python=str(wrapper))
    entry = json.loads(config.read_text())["mcpServers"][SERVER_NAME]
    env = cli_env(
        home,
        BACKEND_API_URL="http://127.0.0.1:9",
        SCOPELOCK_SESSION_TOKEN="session-token-of-the-test",
        SCOPELOCK_SESSION_ID="s-1",
        ANTHROPIC_API_KEY="the-citizens-own-key",
    )
    folder = citizen_copy(tmp_path, "rafael")
    added = run(
        [claude_bin(), "mcp", "add-json", "-s", "user", SERVER_NAME, json.dumps(entry)],
        cwd=folder,
        env=env,
    )
    assert added.returncode == 0, added.stderr

    done = run([claude_bin(), "mcp", "get", SERVER_NAME], cwd=folder, env=env)

    assert done.returncode == 0, done.stderr
    assert "✔ Connected" in done.stdout
    server_env = json.loads(seen.read_text())
    assert server_env["SCOPELOCK_SESSION_TOKEN"] == "session-token-of-the-test"
    assert server_env["BACKEND_API_URL"] == "http://127.0.0.1:9"
    assert server_env["SCOPELOCK_THREAD_ID"] == ""  # unset in the session: empty, not `${...}`
    assert server_env["ANTHROPIC_API_KEY"] == "the-citizens-own-key"  # inherited


@pytest.mark.parametrize("citizen", CITIZENS)
def test_each_citizens_settings_file_is_valid(tmp_path: Path, home: Path, citizen: str) -> None:
    """`claude doctor` reads the folder's settings and lists any that fail validation."""
    done = run([claude_bin(), "doctor"], cwd=citizen_copy(tmp_path, citizen), env=cli_env(home))

    assert done.returncode == 0, done.stderr
    assert "Claude Code doctor" in done.stdout
    assert "Invalid settings" not in done.stdout + done.stderr


def test_doctor_does_report_an_invalid_settings_file(tmp_path: Path, home: Path) -> None:
    folder = citizen_copy(tmp_path, "rafael")
    (folder / ".claude" / "settings.json").write_text('{"permissions": {"allow": "Bash"}}')

    done = run([claude_bin(), "doctor"], cwd=folder, env=cli_env(home))

    assert "Invalid settings" in done.stdout + done.stderr


@pytest.mark.parametrize("citizen", CITIZENS)
def test_a_session_applies_the_citizens_allow_and_deny_rules(
    tmp_path: Path, home: Path, citizen: str
) -> None:
    """The CLI's debug log names the rules it applies. A folder's own allow rules are dropped
    in print mode (untrusted workspace); the argv's `--settings` brings them back."""
    folder = citizen_copy(tmp_path, citizen)
    rules = json.loads((folder / ".claude" / "settings.json").read_text())["permissions"]
    debug = tmp_path / "debug.log"
    argv = build_argv(
        claude_bin=claude_bin(),
        prompt="Hello.",
        mcp_config=write_mcp_config(tmp_path / "mcp.json"),
        session_id=str(uuid.uuid4()),
        max_budget_usd=2,
    )

    run([*argv, "--debug-file", str(debug)], cwd=folder, env=cli_env(home))

    log = debug.read_text()
    allow = f"Adding {len(rules['allow'])} allow rule(s) to destination 'flagSettings': "
    deny = f"Adding {len(rules['deny'])} deny rule(s) to destination 'flagSettings': "
    assert allow + json.dumps(rules["allow"], separators=(",", ":")) in log
    assert deny + json.dumps(rules["deny"], separators=(",", ":")) in log
    assert "matches no known tool" not in log  # a misspelt rule would deny nothing
    # A Read deny rule would also keep the CLI from loading the citizen's own CLAUDE.md.
    assert "Instruction file not loaded" not in log


def test_rafael_and_emma_may_use_only_scopelocks_tools() -> None:
    for citizen in ("rafael", "emma"):
        rules = json.loads((PACKAGED_DIR / citizen / ".claude" / "settings.json").read_text())
        permissions = rules["permissions"]
        assert permissions["allow"] == ["mcp__scopelock"]
        for tool in ("Bash", "Write", "Edit", "NotebookEdit", "WebFetch", "WebSearch", "Agent"):
            assert tool in permissions["deny"], (citizen, tool)
    daniel = json.loads((PACKAGED_DIR / "daniel" / ".claude" / "settings.json").read_text())
    assert "mcp__scopelock" in daniel["permissions"]["allow"]
    assert {"WebFetch", "WebSearch"} <= set(daniel["permissions"]["deny"])
