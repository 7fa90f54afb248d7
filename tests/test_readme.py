"""README.md works as written: its curl examples run under bash against the real service, its
test command is what CI runs, and every API route has an example.

A ```bash block with `curl ` in it is an example. It runs against the service of the README's
run command: no environment at all (PORT only when 8000 is taken). A block right after a line
`<!-- example env: NAME=value ... -->` needs that configuration, which its prose must say: it
runs against a service started with those variables, and its shell has them too.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.service_process import ServiceProcess, clean_env, free_port, port_is_free, venv_bin

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")
README_PORT = 8000
TOKEN = "readme-token-8a1f"


@dataclass(frozen=True)
class Example:
    number: int
    script: str
    env: tuple[tuple[str, str], ...]


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", README, flags=re.MULTILINE | re.DOTALL)


def examples() -> list[Example]:
    found = re.findall(
        r"^(?:<!-- example env: ([^>]*?) -->\n)?```bash\n(.*?)^```",
        README,
        flags=re.MULTILINE | re.DOTALL,
    )
    return [
        Example(number, script, tuple(_pair(item) for item in env.split()))
        for number, (env, script) in enumerate(found, 1)
        if "curl " in script
    ]


def _pair(item: str) -> tuple[str, str]:
    name, _, value = item.partition("=")
    return name, value


EXAMPLES = examples()


def curl_commands(script: str) -> list[str]:
    """Each curl invocation of a script, its continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", script)
    return re.findall(r"curl [^|\n)]*", joined)


def test_the_readme_has_curl_examples_that_fail_loudly() -> None:
    assert len(EXAMPLES) >= 8
    for example in EXAMPLES:
        for command in curl_commands(example.script):
            # -f turns an HTTP error into a non-zero exit, so "exits 0" means "got a 2xx".
            assert re.match(r"curl -f", command), command


def test_every_api_route_has_an_example() -> None:
    from web.app import api_endpoints

    seen = set()
    for example in EXAMPLES:
        for command in curl_commands(example.script):
            method = re.search(r"-X (\w+)", command)
            path = re.search(r"http://127\.0\.0\.1:8000(/[^\"' ?]*)", command)
            assert path is not None, command
            seen.add((method.group(1) if method else "GET", path.group(1)))

    routes = {(e.method, e.path) for e in api_endpoints()} | {("GET", "/api/openapi.json")}
    assert {route for route in routes if not any(_covers(route, ex) for ex in seen)} == set()


def _covers(route: tuple[str, str], example: tuple[str, str]) -> bool:
    pattern = re.sub(r"\\\{\w+\\\}", r"[^/]+", re.escape(route[1]))
    return route[0] == example[0] and re.fullmatch(pattern, example[1]) is not None


def test_ci_runs_exactly_the_readme_test_command() -> None:
    run_command, test_command = code_blocks("console")[:2]
    assert run_command.strip().endswith(".venv/bin/scopelock")
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert test_command.strip() in ci


@pytest.mark.parametrize("api_token", [None, TOKEN], ids=["no-environment", "with-API_TOKEN"])
def test_the_curl_examples_work_as_written(tmp_path: Path, api_token: str | None) -> None:
    """The run command's service (no environment; or with API_TOKEN, sent by the examples)."""
    extra = {} if api_token is None else {"API_TOKEN": api_token}
    run_examples([e for e in EXAMPLES if not e.env], extra, tmp_path)


def test_the_examples_that_need_configuration_work_with_it(tmp_path: Path) -> None:
    configured = [e for e in EXAMPLES if e.env]
    assert configured, "the session examples need WEBHOOK_SECRET"
    for number, env in enumerate(dict.fromkeys(e.env for e in configured)):
        # No real citizen CLI is ever launched from a test; the session fails, and is still one.
        extra = {**dict(env), "CLAUDE_BIN": "false"}
        run_examples([e for e in configured if e.env == env], extra, tmp_path / str(number))


def run_examples(chosen: list[Example], extra: dict[str, str], cwd: Path) -> None:
    """Start the service in `cwd` with `extra`, then run each example there under bash."""
    cwd.mkdir(parents=True, exist_ok=True)
    # The examples call `.venv/bin/scopelock` as a user in the clone would.
    (cwd / ".venv").symlink_to(Path(sys.executable).parent.parent)
    port = README_PORT if port_is_free(README_PORT) else free_port()
    env = clean_env(**extra) if port == README_PORT else clean_env(PORT=str(port), **extra)
    with ServiceProcess([str(venv_bin("scopelock"))], cwd=cwd, env=env, port=port) as service:
        service.wait_healthy()
        for example in chosen:
            script = example.script.replace("127.0.0.1:8000", f"127.0.0.1:{port}")
            result = subprocess.run(
                ["bash", "-c", "set -eo pipefail\n" + script],
                cwd=cwd,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert result.returncode == 0, f"example {example.number}:\n{script}\n{result.stderr}"
            assert result.stdout.strip(), f"example {example.number} printed nothing"
        assert service.stop() == 0, service.stderr


def test_the_quick_start_reaches_a_paired_chat_and_an_approval(tmp_path: Path) -> None:
    """Steps 2 to 5 as written, with this environment's install (the walkthrough test,
    tests/test_quick_start_walkthrough.py, installs a fresh clone instead)."""
    import shutil

    from tests.quick_start import follow_quick_start

    shutil.copy(REPO / ".env.example", tmp_path / ".env.example")
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parent.parent)

    def start_only(block: str) -> str:
        make_venv, install, start = block.strip().split(" && ")
        assert (make_venv, install) == ("python3 -m venv .venv", ".venv/bin/pip install .")
        return start

    follow_quick_start(tmp_path, clean_env(), start=start_only, start_timeout=60)


def env_example() -> dict[str, str]:
    text = (REPO / ".env.example").read_text(encoding="utf-8")
    lines = text.splitlines()
    found: dict[str, str] = {}
    for number, line in enumerate(lines):
        match = re.fullmatch(r"# ([A-Z][A-Z0-9_]+)=(.*)", line)
        if match:
            assert match[1] not in found, f"{match[1]} twice"
            # One line of meaning above each variable (or above the pair it belongs to).
            assert lines[number - 1].startswith("# "), match[1]
            found[match[1]] = match[2]
    return found


def test_env_example_lists_every_setting_at_its_default() -> None:
    from bot.settings import Settings

    listed = env_example()
    assert {name.upper() for name in Settings.model_fields} <= set(listed)
    for name, value in listed.items():
        field = name.lower()
        if field not in Settings.model_fields:
            continue  # a setting another part of the project reads (a worker's, a step's)
        default = Settings(_env_file=None)  # type: ignore[call-arg]
        if value:
            given = Settings(_env_file=None, **{field: value})  # type: ignore[call-arg]
            assert getattr(given, field) == getattr(default, field), name
        else:
            assert getattr(default, field) in (None, frozenset()), name


def test_the_settings_table_names_every_setting_once() -> None:
    from bot.settings import Settings

    section = README[README.index("## Configuration") : README.index("## HTTP API")]
    rows = [line.split(" | ")[0] for line in section.splitlines() if line.startswith("| `")]
    named = [name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row)]
    assert len(named) == len(set(named)), "a variable is listed twice"
    render_sets_it = {"RENDER_EXTERNAL_URL"}
    assert {name.upper() for name in Settings.model_fields} - render_sets_it <= set(named)
