"""A stand-in for the `claude` CLI that behaves like the pinned one where ScopeLock relies on it.

Like the real CLI (each behaviour checked in tests/test_citizens_real_cli.py or by hand against
the pinned version): it refuses unknown options (`error: unknown option '--x'`, exit 1),
checks `--output-format`, `--session-id` (a UUID, not already used, not with `--resume`),
`--settings` and `--mcp-config` files; remembers conversations in a state directory so that
`--resume` of an unknown id fails (`No conversation found with session ID: …`, nothing on
stdout); and with `--output-format json` prints one JSON result (`type`, `subtype`,
`is_error`, `result`, `session_id`, `total_cost_usd`, `num_turns`, `duration_ms`, …), whose
`total_cost_usd` counts the whole conversation and whose budget stop carries `errors` instead
of `result`. Like the real CLI in print mode, it writes `Ignoring N permissions.allow entries
…` to stderr on every run in a folder whose settings have allow rules. tests/
test_citizens_fake_vs_real.py runs both on the same cases and compares them.

With `--mcp-config` it starts the configured `scopelock` server (its `${VAR:-default}`
references expanded from this process's environment, which the server also inherits) and
calls its tools with the `mcp` client, as the script says.

The script: lines of the prompt (so a test drives it through the real prompt path), plus the
JSON list of `{"tool": ..., "arguments": {...}}` in the file named by $FAKE_CLAUDE_TOOLS.
  FAKE:tool=NAME {JSON arguments}   call a tool of the `scopelock` MCP server
  FAKE:draft               create a draft (the `create_draft` tool when there is an MCP
                           config, else POST $BACKEND_API_URL/api/draft/create)
  FAKE:result=TEXT         the result's text
  FAKE:subtype=NAME        the result's subtype (an `error_*` one makes it an error)
  FAKE:is-error            the result has `is_error: true` (and exit 1)
  FAKE:cost=USD            what this run costs (default 0.0123); `total_cost_usd` adds what
                           the resumed conversation cost before, as the real CLI's does
  FAKE:not-json            print text instead of the JSON result
  FAKE:sleep=SECONDS       sleep before finishing
  FAKE:wait-for=PATH       wait (at most 30 s) until PATH exists
  FAKE:child               start a grandchild process that sleeps; its pid is recorded
  FAKE:stderr=TEXT         write TEXT to stderr
  FAKE:stdout-bytes=N      write N bytes of output (to test the bounded tail)
  FAKE:exit=CODE           exit with CODE
  FAKE:fail-unless=PATH    unless PATH exists: no tool call, and an error result
                           `Not logged in · Please run /login` (what a logged-out CLI says)
Every call appends one JSON line to $FAKE_CLAUDE_LOG when it starts (its argv, cwd, pid and
whole environment) and one when it ends (its tool calls and result).
Conversations live where the real CLI keeps them (citizens/transcripts.py): under
$FAKE_CLAUDE_STATE, else $CLAUDE_CONFIG_DIR, else ~/.claude, in
`projects/<working directory, non-alphanumerics as ->/<id>.jsonl`, one JSON line per prompt.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

VALUE_OPTIONS = {
    "--output-format",
    "--session-id",
    "--resume",
    "-r",
    "--mcp-config",
    "--max-budget-usd",
    "--permission-mode",
    "--settings",
    "--allowedTools",
    "--allowed-tools",
    "--disallowedTools",
    "--disallowed-tools",
    "--tools",
    "--model",
    "--debug-file",
    "--append-system-prompt",
}
FLAG_OPTIONS = {"--print", "-p", "--strict-mcp-config", "--continue", "-c", "--verbose"}
OUTPUT_FORMATS = ("text", "json", "stream-json")
PERMISSION_MODES = ("acceptEdits", "auto", "bypassPermissions", "manual", "dontAsk", "plan")
EXPANSION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class Usage(Exception):
    """The CLI refuses its arguments: message on stderr, exit 1, nothing on stdout."""


def parse(argv: list[str]) -> tuple[dict[str, Any], list[str]]:
    options: dict[str, Any] = {}
    positional: list[str] = []
    index = 0
    while index < len(argv):
        arg = argv[index]
        name, has_value, inline = arg.partition("=")
        if arg.startswith("-") and name in VALUE_OPTIONS:
            if has_value:
                value = inline
            elif index + 1 < len(argv):
                index += 1
                value = argv[index]
            else:
                raise Usage(f"error: option '{name}' argument missing")
            options[name.lstrip("-")] = value
        elif arg.startswith("-") and arg in FLAG_OPTIONS:
            options[arg.lstrip("-")] = True
        elif arg.startswith("-") and arg != "-":
            raise Usage(f"error: unknown option '{name}'")
        else:
            positional.append(arg)
        index += 1
    for short, long in (("p", "print"), ("c", "continue"), ("r", "resume")):
        if short in options:
            options[long] = options.pop(short)
    return options, positional


def check(options: dict[str, Any]) -> None:
    fmt = options.get("output-format", "text")
    if fmt not in OUTPUT_FORMATS:
        raise Usage(
            f"error: option '--output-format <format>' argument '{fmt}' is invalid. "
            "Allowed choices are text, json, stream-json."
        )
    mode = options.get("permission-mode")
    if mode is not None and mode not in PERMISSION_MODES:
        raise Usage(f"error: option '--permission-mode <mode>' argument '{mode}' is invalid.")
    if "session-id" in options:
        if "resume" in options or "continue" in options:
            raise Usage(
                "Error: --session-id with --continue or --resume also needs --fork-session."
            )
        try:
            uuid.UUID(options["session-id"])
        except ValueError:
            raise Usage("Error: Invalid session ID. Must be a valid UUID.") from None
    if "max-budget-usd" in options:
        try:
            assert float(options["max-budget-usd"]) > 0
        except (AssertionError, ValueError):
            raise Usage("Error: --max-budget-usd must be a positive number.") from None
    if "settings" in options and not Path(options["settings"]).is_file():
        raise Usage(f"Error: Settings file not found: {Path(options['settings']).resolve()}")
    if "mcp-config" in options and not Path(options["mcp-config"]).is_file():
        raise Usage(
            f"Error: Invalid MCP configuration:\nMCP config file not found: "
            f"{options['mcp-config']}"
        )


def state_dir() -> Path:
    configured = os.environ.get("FAKE_CLAUDE_STATE") or os.environ.get("CLAUDE_CONFIG_DIR")
    root = Path(configured) if configured else Path.home() / ".claude"
    path = root / "projects" / re.sub(r"[^A-Za-z0-9]", "-", os.getcwd())
    path.mkdir(parents=True, exist_ok=True)
    return path


def open_conversation(options: dict[str, Any]) -> tuple[str, list[str], float]:
    """The conversation's id, its earlier prompts and what it cost so far (a Usage error like
    the real CLI's)."""
    if "resume" in options:
        session_id = options["resume"]
        stored = state_dir() / f"{session_id}.jsonl"
        if not stored.is_file():
            raise Usage(f"No conversation found with session ID: {session_id}")
        lines = [json.loads(line) for line in stored.read_text().splitlines() if line]
        prompts = [line["prompt"] for line in lines if "prompt" in line]
        costs = [float(line["cost"]) for line in lines if "cost" in line]
        return session_id, prompts, costs[-1] if costs else 0.0
    session_id = options.get("session-id") or str(uuid.uuid4())
    if (state_dir() / f"{session_id}.jsonl").exists():
        raise Usage(f"Error: Session ID {session_id} is already in use.")
    return session_id, [], 0.0


def save_conversation(session_id: str, prompts: list[str], cost: float) -> None:
    """One JSON line per prompt, then one with what the conversation cost so far."""
    lines = [{"prompt": prompt} for prompt in prompts] + [{"cost": cost}]
    text = "".join(json.dumps(line) + "\n" for line in lines)
    (state_dir() / f"{session_id}.jsonl").write_text(text)


def untrusted_allow_warning(options: dict[str, Any]) -> str | None:
    """The line the real CLI writes to stderr on every run in print mode when the folder's
    `.claude/settings.json` has allow rules (the workspace was never trusted by a person)."""
    try:
        rules = json.loads(Path(".claude/settings.json").read_text())["permissions"]["allow"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not rules:
        return None
    entries = "entry" if len(rules) == 1 else "entries"
    config = Path(os.environ.get("CLAUDE_CONFIG_DIR") or Path.home() / ".claude")
    return (
        f"Ignoring {len(rules)} permissions.allow {entries} from .claude/settings.json: this "
        "workspace has not been trusted. Run Claude Code interactively here once and accept "
        f'the trust dialog, or set projects["{Path.cwd()}"].hasTrustDialogAccepted: true in '
        f"{config / '.claude.json'}."
    )


def directives(prompt: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in prompt.splitlines():
        if line.startswith("FAKE:"):
            name, _, value = line.removeprefix("FAKE:").partition("=")
            found[name.strip()] = value.strip()
    return found


def scripted_calls(prompt: str) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    script = os.environ.get("FAKE_CLAUDE_TOOLS")
    if script:
        calls += json.loads(Path(script).read_text())
    for line in prompt.splitlines():
        if line.startswith("FAKE:tool="):
            name, _, arguments = line.removeprefix("FAKE:tool=").partition(" ")
            calls.append({"tool": name, "arguments": json.loads(arguments or "{}")})
        elif line.strip() == "FAKE:draft":
            calls.append({"tool": "create_draft", "arguments": draft_arguments(prompt)})
    return calls


def draft_arguments(prompt: str) -> dict[str, Any]:
    return {
        "client": "Fake Client",
        "job_title": "Fake job",
        "message": "The client's message",
        "draft_text": "A reply drafted by the fake claude.\n" + prompt[:200],
        "confidence": 77,
    }


def record(entry: dict[str, object]) -> None:
    log = os.environ.get("FAKE_CLAUDE_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as file:
            file.write(json.dumps(entry) + "\n")


def expand(value: str) -> str:
    return EXPANSION.sub(
        lambda m: (
            os.environ.get(m.group(1)) or (m.group(2) if m.group(2) is not None else m.group(0))
        ),
        value,
    )


async def call_tools(config_path: str, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Start the configured `scopelock` server and make the calls, in order."""
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    server = json.loads(Path(config_path).read_text())["mcpServers"]["scopelock"]
    env = {**os.environ, **{k: expand(v) for k, v in server.get("env", {}).items()}}
    params = StdioServerParameters(
        command=server["command"], args=server.get("args", []), env=env, cwd=os.getcwd()
    )
    done: list[dict[str, Any]] = []
    async with Client(params) as client:
        for item in calls:
            result = await client.call_tool(item["tool"], item.get("arguments", {}))
            text = "".join(getattr(block, "text", "") for block in result.content)
            done.append({"tool": item["tool"], "is_error": result.is_error, "text": text})
    return done


def post_draft_directly(prompt: str) -> str:
    """No MCP config (the runner before v2): the REST call itself, like the old curl."""
    token = os.environ.get("SCOPELOCK_SESSION_TOKEN") or os.environ.get("API_TOKEN", "")
    body = {**draft_arguments(prompt), "citizen": Path.cwd().name}
    request = urllib.request.Request(  # noqa: S310 (a loopback test server)
        os.environ["BACKEND_API_URL"] + "/api/draft/create",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return json.loads(response.read())["draft_id"]


def result_document(
    todo: dict[str, str],
    *,
    session_id: str,
    turns: int,
    text: str,
    started: float,
    total_cost: float,
    budget: str | None,
) -> dict[str, Any]:
    """The result as the real CLI prints it: `total_cost_usd` is the whole conversation's
    (a resumed one included); a budget stop has an `errors` list and no `result`."""
    subtype = todo.get("subtype", "success")
    is_error = "is-error" in todo or subtype.startswith("error_")
    document: dict[str, Any] = {
        "type": "result",
        "subtype": subtype,
        "is_error": is_error,
        "session_id": session_id,
        "total_cost_usd": total_cost,
        "num_turns": turns,
        "duration_ms": int((time.time() - started) * 1000),
        "usage": {"input_tokens": 0, "output_tokens": 0},
        "permission_denials": [],
    }
    if subtype == "error_max_budget_usd":
        document["errors"] = [f"Reached maximum budget (${budget})"]
    else:
        document["result"] = todo.get("result", text)
    return document


def main() -> int:
    started = time.time()
    argv = sys.argv[1:]
    try:
        options, positional = parse(argv)
        check(options)
        session_id, earlier, earlier_cost = open_conversation(options)
    except Usage as refusal:
        record({"phase": "refused", "argv": argv, "error": str(refusal), "pid": os.getpid()})
        print(refusal, file=sys.stderr, flush=True)
        return 1
    prompt = positional[0] if positional else ""
    todo = directives(prompt)
    json_out = options.get("output-format") == "json"
    entry: dict[str, object] = {
        "phase": "start",
        "argv": argv,
        "cwd": os.getcwd(),
        "pid": os.getpid(),
        "time": started,
        "env": dict(os.environ),
        "session_id": session_id,
        "earlier_prompts": earlier,
    }
    if "child" in todo:
        child = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(120)"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        entry["child_pid"] = child.pid
    record(entry)
    total_cost = earlier_cost + float(todo.get("cost", "0.0123"))
    save_conversation(session_id, [*earlier, prompt], total_cost)
    warning = untrusted_allow_warning(options)
    if warning is not None:
        print(warning, file=sys.stderr, flush=True)
    if not json_out:
        print(f"fake claude working in {Path.cwd().name}", flush=True)
    if "stderr" in todo:
        print(todo["stderr"], file=sys.stderr, flush=True)
    if "stdout-bytes" in todo:
        sys.stdout.write("x" * (int(todo["stdout-bytes"]) - 4) + "END\n")
        sys.stdout.flush()
    if "wait-for" in todo:
        deadline = time.monotonic() + 30
        while not Path(todo["wait-for"]).exists() and time.monotonic() < deadline:
            time.sleep(0.02)
    if "sleep" in todo:
        time.sleep(float(todo["sleep"]))
    tool_results: list[dict[str, Any]] = []
    calls = scripted_calls(prompt)
    if "fail-unless" in todo and not Path(todo["fail-unless"]).exists():
        todo |= {"is-error": "", "result": "Not logged in · Please run /login"}
        todo.pop("draft", None)
        calls = []
    if calls and "mcp-config" in options:
        tool_results = asyncio.run(call_tools(options["mcp-config"], calls))
    elif "draft" in todo:
        print(f"posted draft {post_draft_directly(prompt)}", flush=True)
    text = "fake claude done" + "".join(f"\n{r['tool']}: {r['text']}" for r in tool_results)
    document = result_document(
        todo,
        session_id=session_id,
        turns=len(earlier) + 1,
        text=text,
        started=started,
        total_cost=total_cost,
        budget=options.get("max-budget-usd"),
    )
    record(
        {
            "phase": "end",
            "pid": os.getpid(),
            "time": time.time(),
            "tools": tool_results,
            "result": document,
        }
    )
    if json_out and "not-json" not in todo:
        print(json.dumps(document), flush=True)
    else:
        print("fake claude done", flush=True)
    if "exit" in todo:
        return int(todo["exit"])
    return 1 if json_out and document["is_error"] else 0


if __name__ == "__main__":
    sys.exit(main())
