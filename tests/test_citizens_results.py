"""How a session's end is read from the CLI (citizens/results.py): the error the operator reads
and the cost of one run. The same cases run through the real CLI in
tests/test_citizens_real_sessions.py; these pin the rules fast."""

from __future__ import annotations

import json

import pytest

from citizens.process import ProcessResult
from citizens.results import outcome, parse, this_run
from citizens.runner import SERVICE_STOPPED as STOPPED

EVERY_RUN = (
    "Ignoring 3 permissions.allow entries from .claude/settings.json: this workspace has not "
    "been trusted. Run Claude Code interactively here once and accept the trust dialog, or set "
    'projects["/app/citizens/emma"].hasTrustDialogAccepted: true in /home/x/.claude.json.'
)
BUDGET_STOP = {
    "type": "result",
    "subtype": "error_max_budget_usd",
    "is_error": True,
    "session_id": "c0ffee00-0000-4000-8000-000000000000",
    "total_cost_usd": 0.015075,
    "num_turns": 1,
    "errors": ["Reached maximum budget ($0.01)"],
}


def ended(document: dict[str, object], *, code: int, stderr: str) -> tuple[str, str | None]:
    stdout = json.dumps(document)
    return outcome(
        ProcessResult(code, stdout, stderr), parse(stdout), timeout_s=900, stopped=STOPPED
    )


def test_the_budget_stop_reads_as_the_clis_errors_without_its_every_run_line() -> None:
    status, error = ended(BUDGET_STOP, code=1, stderr=EVERY_RUN + "\n")

    assert status == "failed"
    assert error == "Reached maximum budget ($0.01) (error_max_budget_usd) (exited with code 1)"


def test_other_stderr_lines_are_kept() -> None:
    _, error = ended(BUDGET_STOP, code=1, stderr=f"{EVERY_RUN}\nMCP server scopelock failed\n")

    assert error is not None and error.endswith("\nMCP server scopelock failed")
    assert "Ignoring" not in error


def test_a_run_without_a_result_shows_its_output_not_the_every_run_line() -> None:
    status, error = outcome(
        ProcessResult(1, "", f"{EVERY_RUN}\nNo conversation found with session ID: x"),
        parse(""),
        timeout_s=900,
        stopped=STOPPED,
    )

    assert status == "failed"
    assert (
        error == "the CLI gave no JSON result (exit 1)\nNo conversation found with session ID: x"
    )


def test_a_session_killed_by_the_shutdown_fails_with_the_runners_reason() -> None:
    stopped = ProcessResult(None, "", "", stopped=True)
    assert outcome(stopped, parse(""), timeout_s=900, stopped="worker stopped") == (
        "failed",
        "worker stopped",
    )


@pytest.mark.parametrize(
    ("total", "earlier", "own"),
    [(0.0972, 0.096, 0.0012), (0.048, 0.0, 0.048), (0.01, 0.02, 0.0)],
)
def test_a_run_costs_the_conversations_total_minus_what_it_cost_before(
    total: float, earlier: float, own: float
) -> None:
    parsed = parse(json.dumps({**BUDGET_STOP, "total_cost_usd": total}))

    assert this_run(parsed, earlier).result.cost_usd == pytest.approx(own)
