"""Reading the CLI's JSON result (`--output-format json`) and deciding how a session ended."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, replace
from typing import Any

from citizens.process import ProcessResult
from storage.repo.citizen_queue import CliResult

RESULT_CHARS = 4000
ERROR_TAIL_CHARS = 2000
# What the CLI says when `--resume` names a conversation it no longer has.
LOST_CONVERSATION = "no conversation found"
# Lines the CLI writes to stderr on every run: noise, never the reason a session failed.
EVERY_RUN_STDERR = (
    # The folder's allow rules are read through --settings instead (see citizens/argv.py).
    re.compile(r"^Ignoring \d+ permissions\.allow entr(y|ies) from "),
)


@dataclass(frozen=True)
class Parsed:
    """The JSON result, or None when stdout held none (`result` is then all None)."""

    result: CliResult
    is_error: bool | None
    subtype: str | None
    errors: tuple[str, ...] = ()


def parse(stdout: str) -> Parsed:
    """The result object: the whole of stdout, else its last line that is one."""
    document = _result_object(stdout.strip())
    if document is None:
        for line in reversed(stdout.strip().splitlines()):
            document = _result_object(line.strip())
            if document is not None:
                break
    if document is None:
        return Parsed(CliResult(), None, None)
    text = document.get("result")
    return Parsed(
        CliResult(
            claude_session_id=_string(document.get("session_id"), 100),
            cost_usd=_number(document.get("total_cost_usd")),
            turns=_whole(document.get("num_turns")),
            text=_string(text, RESULT_CHARS),
        ),
        is_error=bool(document.get("is_error", False)),
        subtype=_string(document.get("subtype"), 100),
        errors=_errors(document.get("errors")),
    )


def this_run(parsed: Parsed, earlier_usd: float) -> Parsed:
    """The result with `cost_usd` being what this run cost. On a resumed conversation the
    CLI's `total_cost_usd` counts the whole conversation; `earlier_usd` is what the sessions
    before this one recorded for it."""
    total = parsed.result.cost_usd
    if total is None or earlier_usd <= 0:
        return parsed
    own = round(max(total - earlier_usd, 0.0), 10)
    return replace(parsed, result=replace(parsed.result, cost_usd=own))


def conversation_lost(process: ProcessResult, parsed: Parsed) -> bool:
    """The resume failed because the CLI no longer has the conversation."""
    if process.exit_code == 0 and parsed.is_error is False:
        return False
    said = f"{parsed.result.text or ''}\n{process.stderr}\n{process.stdout[-2000:]}"
    return LOST_CONVERSATION in said.lower()


def outcome(
    process: ProcessResult, parsed: Parsed, timeout_s: float, *, stopped: str
) -> tuple[str, str | None]:
    """`completed` only for exit 0 with a JSON result that is not an error; else `failed`
    and why: the result's text, the time limit, the shutdown (`stopped`: the runner says
    which), or the end of the output."""
    if process.launch_error is not None:
        return "failed", process.launch_error
    if process.timed_out:
        return "failed", _with_stderr(
            f"timed out after {timeout_s:g} s (CITIZEN_TIMEOUT_S); its processes were killed",
            process,
        )
    if process.stopped:
        return "failed", stopped
    if parsed.is_error is None:
        tail = (process.stdout.strip() or meaningful_stderr(process.stderr))[-ERROR_TAIL_CHARS:]
        reason = f"the CLI gave no JSON result (exit {process.exit_code})"
        return "failed", f"{reason}\n{tail}" if tail else reason
    if process.exit_code == 0 and not parsed.is_error:
        return "completed", None
    said = "; ".join(part for part in (parsed.result.text, *parsed.errors) if part)
    if parsed.subtype and parsed.subtype != "success" and parsed.subtype not in said:
        said = f"{said} ({parsed.subtype})" if said else parsed.subtype
    if process.exit_code != 0:
        code = f"exited with code {process.exit_code}"
        said = f"{said} ({code})" if said else code
    return "failed", _with_stderr(said, process)


def _with_stderr(reason: str, process: ProcessResult) -> str:
    tail = meaningful_stderr(process.stderr)[-ERROR_TAIL_CHARS:]
    return f"{reason}\n{tail}" if tail else reason


def meaningful_stderr(stderr: str) -> str:
    """stderr without the lines the CLI writes on every run."""
    lines = stderr.strip().splitlines()
    kept = [line for line in lines if not any(p.match(line) for p in EVERY_RUN_STDERR)]
    return "\n".join(kept).strip()


def _result_object(text: str) -> dict[str, Any] | None:
    if not text.startswith("{"):
        return None
    try:
        document = json.loads(text)
    except ValueError:
        return None
    if isinstance(document, dict) and document.get("type") == "result":
        return document
    return None


def _string(value: object, limit: int) -> str | None:
    if not isinstance(value, str):
        return None
    # PostgreSQL text cannot hold NUL.
    return value.replace("\x00", "")[:limit]


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) and number >= 0 else None


def _errors(value: object) -> tuple[str, ...]:
    """The result's `errors` list (e.g. `Reached maximum budget ($0.01)`), as text."""
    if not isinstance(value, list):
        return ()
    return tuple(text for text in (_string(item, 500) for item in value[:10]) if text)


def _whole(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 <= value < 2**31 else None
