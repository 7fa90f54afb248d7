"""render.yaml: a Blueprint that deploys this service, configured the way settings expect."""

from __future__ import annotations

import re
import secrets
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from bot.settings import PRODUCTION_SECRETS, TELEGRAM_SECRET_TOKEN, load_settings
from citizens.cli_version import NPM_PACKAGE, pinned_version
from citizens.process import KILL_GRACE_S

ROOT = Path(__file__).resolve().parents[1]
BLUEPRINT = yaml.safe_load((ROOT / "render.yaml").read_text(encoding="utf-8"))
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")


def variables(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = {item["key"]: item for item in service["envVars"]}
    assert len(found) == len(service["envVars"]), "a variable is declared twice"
    return found


@pytest.fixture
def web() -> dict[str, Any]:
    (service,) = [s for s in BLUEPRINT["services"] if s["type"] == "web"]
    return service


@pytest.fixture
def worker() -> dict[str, Any]:
    (service,) = [s for s in BLUEPRINT["services"] if s["type"] == "worker"]
    return service


@pytest.fixture
def env(web: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return variables(web)


@pytest.fixture
def worker_env(worker: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return variables(worker)


def from_web(name: str) -> dict[str, Any]:
    return {"key": name, "fromService": {"type": "web", "name": "scopelock", "envVarKey": name}}


def test_a_docker_web_service_built_and_started_like_the_readme_says(web: dict[str, Any]) -> None:
    assert web["type"] == "web"
    assert web["runtime"] == "docker"
    assert (ROOT / web["dockerfilePath"]).resolve() == ROOT / "Dockerfile"
    assert "buildCommand" not in web and "startCommand" not in web  # the Dockerfile says
    assert web["healthCheckPath"] == "/health"
    assert "\nFROM python:3.11-slim\n" in DOCKERFILE
    assert "RUN pip install --no-cache-dir ." in DOCKERFILE
    assert 'CMD ["scopelock", "run"]' in DOCKERFILE


def test_the_image_installs_exactly_the_pinned_claude_code() -> None:
    (arg,) = [line for line in DOCKERFILE.splitlines() if line.startswith("ARG CLAUDE_CODE_")]
    assert arg == f"ARG CLAUDE_CODE_VERSION={pinned_version()}"
    assert f'npm install -g "{NPM_PACKAGE}@${{CLAUDE_CODE_VERSION}}"' in DOCKERFILE
    assert "FROM node:22-bookworm-slim AS node" in DOCKERFILE  # the package wants Node >= 22
    # The build itself fails when the installed CLI is not the pinned one.
    assert 'claude --version | grep -q "^$(cat citizens/claude-code-version.txt) "' in DOCKERFILE


def final_stage() -> list[tuple[str, str]]:
    """The last stage's instructions as (keyword, arguments), continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    lines = [line.strip() for line in text.splitlines()]
    instructions = [tuple(line.split(None, 1)) for line in lines if line and line[0] != "#"]
    start = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return [(keyword, arguments) for keyword, arguments in instructions[start:]]  # type: ignore[misc]


def test_without_database_url_the_service_can_create_its_default_database() -> None:
    """`./scopelock.db` (and SQLite's -wal) is made in the working directory the container
    starts in: the image gives its user that folder, and only that beside its own ones."""
    steps = final_stage()
    user = [arguments for keyword, arguments in steps if keyword == "USER"][-1]
    workdirs = [PurePosixPath(arguments) for keyword, arguments in steps if keyword == "WORKDIR"]
    owned: set[PurePosixPath] = set()
    cwd = PurePosixPath("/")
    for keyword, arguments in steps:
        if keyword == "WORKDIR":
            cwd = cwd / arguments
        if keyword == "RUN":
            for command in arguments.split("&&"):
                words = command.split()
                if words[:2] == ["chown", user]:
                    owned |= {cwd / path for path in words[2:]}
    assert load_settings().database_url == "sqlite+aiosqlite:///./scopelock.db"
    assert workdirs[-1] in owned, f"{workdirs[-1]} is not {user}'s: the database cannot be made"
    # The code and the citizens stay root's: the service's folder is not the one it writes in.
    app = workdirs[0]
    assert ("COPY", ". .") in steps and app not in owned and workdirs[-1] != app
    assert ("ENV", f"CITIZENS_DIR={app / 'citizens'}") in steps
    assert owned == {workdirs[-1], app / "citizens/daniel/projects"}


def test_no_disk_the_web_service_queues_and_a_worker_service_runs_sessions(
    web: dict[str, Any],
    worker: dict[str, Any],
    env: dict[str, dict[str, Any]],
    worker_env: dict[str, dict[str, Any]],
) -> None:
    assert [s["type"] for s in BLUEPRINT["services"]] == ["web", "worker"]
    assert all("disk" not in service for service in BLUEPRINT["services"])
    assert "CLAUDE_CONFIG_DIR" not in DOCKERFILE  # the database keeps the conversations
    assert env["SESSIONS_IN_PROCESS"]["value"] == "false"
    # The worker: the same image (with the CLI), started as `scopelock worker`.
    assert worker["runtime"] == "docker" and worker["dockerfilePath"] == web["dockerfilePath"]
    assert worker["dockerCommand"] == "scopelock worker"
    assert "SESSIONS_IN_PROCESS" not in worker_env  # the default; a worker only runs sessions
    assert worker_env["BACKEND_API_URL"]["fromService"] == {
        "type": "web",
        "name": web["name"],
        "property": "hostport",
    }
    settings = load_settings(
        **{key.lower(): item["value"] for key, item in worker_env.items() if "value" in item},
        api_token="x",
        webhook_secret="x",
        telegram_bot_token="x",
        telegram_chat_id=1,
    )
    assert settings.worker_concurrency >= 1


# What the worker must hold exactly as the web service does, so it is given one source: the
# web service's value. The secrets and chat address the same deployment; /health counts
# workers by SESSION_LEASE_S; the day's clock and budget hold sessions back the same way.
SHARED_WITH_THE_WORKER = (
    "API_TOKEN",
    "WEBHOOK_SECRET",
    "TELEGRAM_BOT_TOKEN",
    "TELEGRAM_CHAT_ID",
    "SESSION_LEASE_S",
    "TIMEZONE",
    "CITIZENS_DAILY_BUDGET_USD",
)


def test_what_both_services_must_agree_on_is_set_once_on_the_web_service(
    env: dict[str, dict[str, Any]], worker_env: dict[str, dict[str, Any]]
) -> None:
    for name in SHARED_WITH_THE_WORKER:
        assert worker_env[name] == from_web(name), name
        assert "fromService" not in env[name], name  # the web service is the source
    assert env["SESSION_LEASE_S"]["value"] == "60"
    # No other worker variable repeats a value of the web service's that could drift apart
    # unnoticed: what both set literally is the same on purpose (production, log level).
    repeated = {
        name
        for name, item in worker_env.items()
        if "value" in item and name in env and "value" in env[name]
    }
    assert repeated == {"ENVIRONMENT", "LOG_LEVEL"}


def test_render_waits_for_the_workers_drain(
    worker: dict[str, Any], worker_env: dict[str, dict[str, Any]]
) -> None:
    drain_s = float(worker_env["WORKER_DRAIN_S"]["value"])
    # After the drain, the CLIs get their kill grace, then the failures are recorded.
    assert drain_s + KILL_GRACE_S + 10 <= worker["maxShutdownDelaySeconds"] <= 300
    assert drain_s >= 240  # most sessions end well within four minutes


def test_the_citizens_credentials_are_asked_for_where_sessions_run(
    env: dict[str, dict[str, Any]], worker_env: dict[str, dict[str, Any]]
) -> None:
    for name in ("ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN"):
        assert worker_env[name] == {"key": name, "sync": False}
        assert name not in env  # the web service runs no session


def test_database_url_is_the_blueprint_databases_connection_string(
    env: dict[str, dict[str, Any]], worker_env: dict[str, dict[str, Any]]
) -> None:
    (database,) = BLUEPRINT["databases"]
    for variables_of in (env, worker_env):
        assert variables_of["DATABASE_URL"]["fromDatabase"] == {
            "name": database["name"],
            "property": "connectionString",
        }


def test_production_with_every_secret_provided(env: dict[str, dict[str, Any]]) -> None:
    assert env["ENVIRONMENT"]["value"] == "production"
    assert env["HOST"]["value"] == "0.0.0.0"  # noqa: S104
    assert "PORT" not in env  # Render sets it
    for name in ("API_TOKEN", "WEBHOOK_SECRET"):
        assert env[name] == {"key": name, "generateValue": True}
    for name in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID", "TELEGRAM_ALLOWED_USER_IDS"):
        assert env[name] == {"key": name, "sync": False}
    # Production refuses to start without these: each one must come from somewhere.
    for name in PRODUCTION_SECRETS:
        assert env[name].get("generateValue") or env[name].get("sync") is False


def test_telegram_webhook_mode_with_a_secret_telegram_accepts(
    env: dict[str, dict[str, Any]],
) -> None:
    assert env["TELEGRAM_MODE"]["value"] == "webhook"
    # The webhook URL comes from RENDER_EXTERNAL_URL, which Render sets.
    assert "TELEGRAM_WEBHOOK_URL" not in env
    # Render generates base64 values, which Telegram refuses as a secret_token.
    assert env["TELEGRAM_WEBHOOK_SECRET"] == {"key": "TELEGRAM_WEBHOOK_SECRET", "sync": False}
    # What render.yaml and the README tell the operator to run makes one the settings accept.
    assert all(TELEGRAM_SECRET_TOKEN.match(secrets.token_urlsafe(32)) for _ in range(100))


def test_no_secret_value_is_committed(env: dict[str, dict[str, Any]]) -> None:
    for name in (*PRODUCTION_SECRETS, "TELEGRAM_WEBHOOK_SECRET", "DATABASE_URL"):
        assert "value" not in env[name], name


def test_the_database_is_postgresql_on_the_private_network() -> None:
    (database,) = BLUEPRINT["databases"]
    assert database["name"] and database["databaseName"] and database["user"]
    assert int(database["postgresMajorVersion"]) >= 15
    assert database["ipAllowList"] == []


def test_the_operators_day_is_preset_with_values_the_settings_accept(
    env: dict[str, dict[str, Any]],
) -> None:
    from bot.settings import Settings

    preset = {
        name: env[name]["value"] for name in ("TIMEZONE", "DIGEST_AT", "CITIZENS_DAILY_BUDGET_USD")
    }
    assert preset == {"TIMEZONE": "UTC", "DIGEST_AT": "08:00", "CITIZENS_DAILY_BUDGET_USD": "10"}
    settings = Settings(_env_file=None, **{k.lower(): v for k, v in preset.items()})  # type: ignore[call-arg]
    assert settings.digest_time is not None and settings.citizens_daily_budget_usd == 10


def test_production_starts_without_a_chat_id_so_a_deploy_can_pair(
    env: dict[str, dict[str, Any]],
) -> None:
    assert "TELEGRAM_CHAT_ID" not in PRODUCTION_SECRETS
    assert env["TELEGRAM_CHAT_ID"] == {"key": "TELEGRAM_CHAT_ID", "sync": False}
