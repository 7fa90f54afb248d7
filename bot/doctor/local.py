"""The checks that need no network: public URL, webhook secret, citizens, the CLI, and the
citizens' credentials (whether set, never their value)."""

from __future__ import annotations

import asyncio
import os
import re
import shutil

from bot.doctor.checks import Check
from bot.settings import Settings
from citizens.cli_version import NPM_PACKAGE, pinned_version
from citizens.directory import citizens_root, known_citizens

CLI_TIMEOUT_S = 20


def check_public_url(settings: Settings) -> Check:
    url = settings.public_base_url
    if settings.mini_app_url is not None:
        return Check("public url", "ok", f"{url}: the Mini App is offered at {url}/app")
    if url is None:
        return Check(
            "public url",
            "warn",
            "PUBLIC_URL is not set (nor RENDER_EXTERNAL_URL): no Mini App; set it to the "
            "service's https address",
        )
    return Check(
        "public url",
        "warn",
        f"{url} is not https: Telegram opens Mini Apps over https only; set PUBLIC_URL to the "
        "https address",
    )


def check_webhook_secret(settings: Settings) -> Check:
    if settings.webhook_secret is None:
        return Check(
            "webhook secret",
            "warn",
            "WEBHOOK_SECRET is not set: /webhook/* answer 503, so Zapier cannot post; set a "
            "long random value",
        )
    length = len(settings.webhook_secret.get_secret_value())
    if length < 16:
        return Check(
            "webhook secret",
            "warn",
            f"WEBHOOK_SECRET is set but short ({length} characters): use 32 or more",
        )
    return Check("webhook secret", "ok", "WEBHOOK_SECRET is set (Zapier signs with it)")


def check_citizens(settings: Settings) -> Check:
    root = citizens_root(settings)
    names = known_citizens(root)
    if not names:
        return Check(
            "citizens",
            "FAIL",
            f"no citizen folder (a folder with a CLAUDE.md) in {root}: fix CITIZENS_DIR",
        )
    return Check("citizens", "ok", f"{', '.join(names)} in {root}")


async def check_cli(settings: Settings) -> Check:
    pinned = pinned_version()
    install = f"npm install -g {NPM_PACKAGE}@{pinned}"
    found = shutil.which(settings.claude_bin)
    if found is None:
        return Check(
            "claude cli",
            "FAIL",
            f"{settings.claude_bin} not found: install it ({install}) or fix CLAUDE_BIN",
        )
    # Only PATH and HOME: no secret reaches the CLI's environment.
    env = {name: os.environ[name] for name in ("PATH", "HOME") if name in os.environ}
    try:
        process = await asyncio.create_subprocess_exec(
            found,
            "--version",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            env=env,
        )
    except OSError as error:
        return Check("claude cli", "FAIL", f"{found} --version failed ({type(error).__name__})")
    try:
        async with asyncio.timeout(CLI_TIMEOUT_S):
            output, _ = await process.communicate()
    except TimeoutError:
        # Not left running behind the doctor: killed and reaped.
        process.kill()
        await process.wait()
        return Check(
            "claude cli",
            "FAIL",
            f"{found} --version did not answer within {CLI_TIMEOUT_S:g} s: run it by hand to "
            "see why (a first-run prompt, a broken install)",
        )
    match = re.search(r"\d+\.\d+\.\d+", output.decode(errors="replace"))
    version = match.group(0) if match else "an unknown version"
    if version != pinned:
        return Check(
            "claude cli",
            "FAIL",
            f"{found} is {version}, the citizens are pinned to {pinned}: {install}",
        )
    return Check("claude cli", "ok", f"{found} is {pinned}, the pinned version")


def check_credentials(settings: Settings) -> Check:
    given = [
        name
        for name, value in (
            ("ANTHROPIC_API_KEY", settings.anthropic_api_key),
            ("CLAUDE_CODE_OAUTH_TOKEN", settings.claude_code_oauth_token),
        )
        if value is not None
    ]
    if not given and not settings.sessions_in_process:
        return Check(
            "citizens' credentials",
            "ok",
            "not needed here: sessions run in `scopelock worker` processes "
            "(SESSIONS_IN_PROCESS=false); run `scopelock doctor` where they run",
        )
    if not given:
        return Check(
            "citizens' credentials",
            "warn",
            "neither ANTHROPIC_API_KEY nor CLAUDE_CODE_OAUTH_TOKEN is set: citizen sessions "
            "cannot reach the model (set one; `claude setup-token` makes the second)",
        )
    return Check("citizens' credentials", "ok", f"{' and '.join(given)} set (value not shown)")
