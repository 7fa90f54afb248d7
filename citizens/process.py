"""Run one citizen CLI process: argument list, own process group, time limit, bounded output."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# How much of each stream is kept while reading (the end is what matters).
KEEP_BYTES = 64 * 1024
# After SIGTERM, how long the group gets before SIGKILL.
KILL_GRACE_S = 3.0
# How long to wait for the pipes to drain once the process has ended.
DRAIN_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class ProcessResult:
    exit_code: int | None
    stdout: str
    stderr: str
    timed_out: bool = False
    stopped: bool = False
    launch_error: str | None = None


async def run_cli(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout_s: float,
    stop: asyncio.Event,
    on_start: Callable[[int], Awaitable[None]] | None = None,
) -> ProcessResult:
    """Run `argv` (never through a shell) until it exits, times out, or `stop` is set.

    The process leads a new session, so on timeout or stop its whole group is killed,
    children included. `on_start(pid)` is awaited once it runs (its pid is its group's id).
    """
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env=dict(env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
    except FileNotFoundError:
        return _not_launched(f"{argv[0]!r} was not found (check CLAUDE_BIN)")
    except PermissionError:
        return _not_launched(f"{argv[0]!r} is not executable (check CLAUDE_BIN)")
    except OSError as error:
        return _not_launched(f"{argv[0]!r} could not start: {error.strerror or error}")

    if on_start is not None:
        try:
            await on_start(process.pid)
        except Exception:
            _signal_group(process.pid, signal.SIGKILL)
            await process.wait()
            raise
    out, err = bytearray(), bytearray()
    assert process.stdout is not None and process.stderr is not None
    readers = [
        asyncio.create_task(_drain(process.stdout, out)),
        asyncio.create_task(_drain(process.stderr, err)),
    ]
    waiting = asyncio.create_task(process.wait())
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({waiting, stopping}, timeout=timeout_s, return_when="FIRST_COMPLETED")
        timed_out = not waiting.done() and not stopping.done()
        stopped = not waiting.done() and stopping.done()
        if not waiting.done():
            await _terminate_group(process, waiting)
        # Whatever the leader left behind in its group ends with the session.
        _signal_group(process.pid, signal.SIGKILL)
        await asyncio.wait(readers, timeout=DRAIN_TIMEOUT_S)
    finally:
        for task in (*readers, waiting, stopping):
            task.cancel()
        if process.returncode is None:
            _signal_group(process.pid, signal.SIGKILL)
            with contextlib.suppress(asyncio.CancelledError, ProcessLookupError):
                await process.wait()
    return ProcessResult(
        exit_code=process.returncode,
        stdout=_text(out),
        stderr=_text(err),
        timed_out=timed_out,
        stopped=stopped,
    )


async def _drain(stream: asyncio.StreamReader, keep: bytearray) -> None:
    while chunk := await stream.read(65536):
        keep += chunk
        if len(keep) > KEEP_BYTES:
            del keep[: len(keep) - KEEP_BYTES]


async def _terminate_group(process: asyncio.subprocess.Process, waiting: asyncio.Task) -> None:
    _signal_group(process.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(asyncio.shield(waiting), KILL_GRACE_S)
    except TimeoutError:
        _signal_group(process.pid, signal.SIGKILL)
        await waiting


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _text(data: bytearray) -> str:
    # PostgreSQL text cannot hold NUL; a cut multi-byte character becomes U+FFFD.
    return bytes(data).decode("utf-8", "replace").replace("\x00", "")


def _not_launched(message: str) -> ProcessResult:
    return ProcessResult(exit_code=None, stdout="", stderr="", launch_error=message)
