"""README.md works as written: its curl examples run under bash against the real service, its
test command is what CI runs, and every API route has an example.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.service_process import ServiceProcess, clean_env, free_port, port_is_free, venv_bin

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")
README_PORT = 8000
TOKEN = "readme-token-8a1f"


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", README, flags=re.MULTILINE | re.DOTALL)


CURL_BLOCKS = [block for block in code_blocks("bash") if "curl " in block]


def curl_commands(block: str) -> list[str]:
    """Each curl invocation of a block, its continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", block)
    return re.findall(r"curl [^|\n)]*", joined)


def test_the_readme_has_curl_examples_that_fail_loudly() -> None:
    assert len(CURL_BLOCKS) >= 8
    for block in CURL_BLOCKS:
        for command in curl_commands(block):
            # -f turns an HTTP error into a non-zero exit, so "exits 0" means "got a 2xx".
            assert re.match(r"curl -f", command), command


def test_every_api_route_has_an_example() -> None:
    from web.app import api_endpoints

    examples = set()
    for block in CURL_BLOCKS:
        for command in curl_commands(block):
            method = re.search(r"-X (\w+)", command)
            path = re.search(r"http://127\.0\.0\.1:8000(/[^\"' ?]*)", command)
            assert path is not None, command
            examples.add((method.group(1) if method else "GET", path.group(1)))

    routes = {(e.method, e.path) for e in api_endpoints()} | {("GET", "/api/openapi.json")}
    missing = {route for route in routes if not any(_covers(route, ex) for ex in examples)}
    # Until a session can be queued with no configuration at all (a `scopelock trigger`
    # that needs no WEBHOOK_SECRET), a fresh service has no session to fetch.
    assert missing == {("GET", "/api/session/{session_id}")}


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
    port = README_PORT if port_is_free(README_PORT) else free_port()
    server_env = clean_env() if port == README_PORT else clean_env(PORT=str(port))
    shell_env = clean_env()
    if api_token is not None:
        server_env["API_TOKEN"] = shell_env["API_TOKEN"] = api_token
    with ServiceProcess(
        [str(venv_bin("scopelock"))], cwd=tmp_path, env=server_env, port=port
    ) as service:
        service.wait_healthy()
        for number, block in enumerate(CURL_BLOCKS, 1):
            script = "set -eo pipefail\n" + block.replace("127.0.0.1:8000", f"127.0.0.1:{port}")
            result = subprocess.run(
                ["bash", "-c", script],
                cwd=tmp_path,
                env=shell_env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert result.returncode == 0, f"example {number}:\n{block}\n{result.stderr}"
            assert result.stdout.strip(), f"example {number} printed nothing"
        assert service.stop() == 0
