"""The `scopelock` command: run the service, and the operators' tools."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from bot.logs import configure_logging
from bot.settings import Settings, SettingsError, load_settings


def main(argv: Sequence[str] | None = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    command = args.command or "run"
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"scopelock: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    configure_logging(settings.log_level, settings.secret_values())
    sys.exit(_COMMANDS[command](settings, args))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scopelock", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", help="start the service (the default)")
    sub.add_parser("migrate", help="bring the database schema up to date, then exit")
    return parser


def _run(settings: Settings, _args: argparse.Namespace) -> int:
    from bot.service import serve

    asyncio.run(serve(settings))
    return 0


def _migrate(settings: Settings, _args: argparse.Namespace) -> int:
    from storage.engine import create_engine
    from storage.migrate import upgrade_to_head

    async def migrate() -> None:
        engine = create_engine(settings.database_url)
        try:
            await upgrade_to_head(engine)
        finally:
            await engine.dispose()

    asyncio.run(migrate())
    print("scopelock: database schema is up to date")
    return 0


_COMMANDS = {"run": _run, "migrate": _migrate}
