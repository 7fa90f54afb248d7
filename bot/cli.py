"""The `scopelock` command: run the service, and the operators' tools."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Coroutine, Sequence
from typing import Any

from bot import operator_tools
from bot.logs import configure_logging
from bot.settings import Settings, SettingsError, load_settings

log = logging.getLogger("scopelock")


def main(argv: Sequence[str] | None = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    command = args.command or "run"
    if command == "mcp":
        # Launched by a citizen's CLI with the session's environment, not the service's: it
        # needs no settings, and stdout is the protocol (nothing else may print there).
        from bot.mcp_server import main as serve_mcp

        sys.exit(serve_mcp())
    if command == "doctor":
        # Loads the settings itself: a bad setting is its first finding, not a stop. Imported
        # here: its checks pull in what `scopelock mcp`, started per session, never needs.
        from bot.doctor import main as run_doctor

        sys.exit(run_doctor(args))
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
    sub.add_parser("worker", help="run citizen sessions from the database, and nothing else")
    sub.add_parser("mcp", help="the citizens' tools: an MCP server on stdio (for Claude Code)")
    operator_tools.add_commands(sub)
    doctor = sub.add_parser(
        "doctor",
        help="check this deployment (settings, database, Telegram, citizens); changes nothing",
    )
    doctor.add_argument("--json", action="store_true", help="print the checks as JSON")
    return parser


def _run(settings: Settings, _args: argparse.Namespace) -> int:
    from bot.service import serve

    return _run_until_done(serve(settings), "run")


def _worker(settings: Settings, _args: argparse.Namespace) -> int:
    from bot.worker import work

    return _run_until_done(work(settings), "worker")


def _run_until_done(work: Coroutine[Any, Any, object], what: str) -> int:
    """Run a command's coroutine; a failure is one log line and exit code 1."""
    from sqlalchemy.exc import DBAPIError

    try:
        asyncio.run(work)
    except KeyboardInterrupt:
        # Ctrl-C before the signal handlers were installed: still a requested stop.
        log.info("stopped")
    except (OSError, DBAPIError) as error:
        # A port in use, an unreachable database, a wrong password: the operator's to fix,
        # and the driver's own message says what it is.
        reason = str(getattr(error, "orig", None) or error).splitlines()[0]
        log.critical("scopelock %s failed: %s", what, reason)
        return 1
    except Exception:
        log.critical("scopelock %s failed", what, exc_info=True)
        return 1
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

    status = _run_until_done(migrate(), "migrate")
    if status == 0:
        print("scopelock: database schema is up to date")
    return status


_COMMANDS = {"run": _run, "worker": _worker, "migrate": _migrate, **operator_tools.COMMANDS}
