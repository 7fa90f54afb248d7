"""`scopelock doctor` (CONTRACT §15): check a deployment from its environment, change nothing.

One line per check, `ok` / `warn` / `FAIL` and what to do; `--json` prints the same checks.
Exit 0 when nothing failed, 1 otherwise. Every detail goes through the secret redactor.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from dataclasses import asdict

from bot.doctor.checks import Check, redact
from bot.doctor.database import check_database
from bot.doctor.local import (
    check_citizens,
    check_cli,
    check_credentials,
    check_public_url,
    check_webhook_secret,
)
from bot.doctor.telegram import check_telegram
from bot.settings import Settings, SettingsError, load_settings


def main(args: argparse.Namespace) -> int:
    """Runs before the settings are loaded: bad settings are its first finding."""
    try:
        settings = load_settings()
    except SettingsError as error:
        checks = [Check("settings", "FAIL", f"{error}; fix them (see .env.example)")]
    else:
        checks = asyncio.run(run_checks(settings))
    print(render(checks, as_json=args.json))
    return 1 if any(check.status == "FAIL" for check in checks) else 0


async def run_checks(settings: Settings) -> list[Check]:
    database, database_ok = await check_database(settings)
    checks = [
        Check(
            "settings",
            "ok",
            f"ENVIRONMENT={settings.environment}, TELEGRAM_MODE={settings.telegram_mode}",
        ),
        database,
        *await check_telegram(settings, database_ok=database_ok),
        check_public_url(settings),
        check_webhook_secret(settings),
        check_citizens(settings),
        await check_cli(settings),
        check_credentials(settings),
    ]
    secrets = settings.secret_values()
    return [Check(c.name, c.status, redact(c.detail, secrets)) for c in checks]


def render(checks: list[Check], *, as_json: bool) -> str:
    if as_json:
        return json.dumps({"checks": [asdict(check) for check in checks]}, ensure_ascii=False)
    return "\n".join(f"{check.status:<4} {check.name}: {check.detail}" for check in checks)
