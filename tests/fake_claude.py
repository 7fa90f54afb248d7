"""A stand-in for the `claude` CLI: records how it was called, then does what the prompt says.

Directives are lines of the prompt (so a test drives it through the real prompt path):
  FAKE:sleep=SECONDS       sleep before finishing
  FAKE:wait-for=PATH       wait (at most 30 s) until PATH exists
  FAKE:child               start a grandchild process that sleeps; its pid is recorded
  FAKE:stderr=TEXT         write TEXT to stderr
  FAKE:stdout-bytes=N      write N bytes of output (to test the bounded tail)
  FAKE:draft               post a draft to $BACKEND_API_URL/api/draft/create (urllib, no curl)
  FAKE:exit=CODE           exit with CODE
Every call appends one JSON line to $FAKE_CLAUDE_LOG when it starts, and one when it ends.

Like the real CLI (see the citizens runner's part below): `--output-format json` ends stdout
with the JSON result; `--session-id ID` starts conversation ID (a file in the `conversations`
folder next to $FAKE_CLAUDE_LOG), `--resume ID` continues it or fails with "No conversation
found with session ID: ID" (recorded as a "refused" entry). More directives:
  FAKE:result=TEXT         the result's text     FAKE:is-error   the result is an error
  FAKE:subtype=NAME        the result's subtype  FAKE:cost=USD   its total_cost_usd
  FAKE:not-json            print no JSON result
Conversations live in $FAKE_CLAUDE_STATE (else next to $FAKE_CLAUDE_LOG)/fake-conversations.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def directives(prompt: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in prompt.splitlines():
        if line.startswith("FAKE:"):
            name, _, value = line.removeprefix("FAKE:").partition("=")
            found[name.strip()] = value.strip()
    return found


def record(entry: dict[str, object]) -> None:
    log = os.environ.get("FAKE_CLAUDE_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as file:
            file.write(json.dumps(entry) + "\n")


def post_draft(prompt: str) -> str:
    body = {
        "client": "Fake Client",
        "job_title": "Fake job",
        "message": "The client's message",
        "draft_text": "A reply drafted by the fake claude.\n" + prompt[:200],
        "confidence": 77,
        "citizen": Path.cwd().name,
    }
    request = urllib.request.Request(  # noqa: S310 (a loopback test server)
        os.environ["BACKEND_API_URL"] + "/api/draft/create",
        data=json.dumps(body).encode(),
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {os.environ.get('SCOPELOCK_SESSION_TOKEN', '')}",
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return json.loads(response.read())["draft_id"]


# --- the citizens runner's part: the real CLI's flags and JSON result ---


def flag(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv[:-1] else None


def conversations() -> Path:
    root = os.environ.get("FAKE_CLAUDE_STATE")
    if not root:
        root = str(Path(os.environ.get("FAKE_CLAUDE_LOG", "fake-claude.jsonl")).parent)
    folder = Path(root) / "fake-conversations"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def open_conversation(argv: list[str]) -> str | None:
    """The conversation this call continues or starts; None when `--resume` names a lost one."""
    resume = flag(argv, "--resume")
    if resume is not None:
        return resume if (conversations() / f"{resume}.json").exists() else None
    session_id = flag(argv, "--session-id") or "no-session-id"
    (conversations() / f"{session_id}.json").write_text("{}")
    return session_id


def print_result(todo: dict[str, str], session_id: str) -> None:
    result = {
        "type": "result",
        "subtype": todo.get("subtype", "success"),
        "is_error": "is-error" in todo,
        "result": todo.get("result", "fake claude done"),
        "session_id": session_id,
        "total_cost_usd": float(todo.get("cost", "0.01")),
        "num_turns": 1,
    }
    print(json.dumps(result), flush=True)


# --- end of the runner's part ---


def main() -> int:
    argv = sys.argv[1:]
    prompt = argv[1] if len(argv) > 1 and argv[0] == "--print" else ""
    todo = directives(prompt)
    entry: dict[str, object] = {
        "phase": "start",
        "argv": argv,
        "cwd": os.getcwd(),
        "pid": os.getpid(),
        "time": time.time(),
        "env": dict(os.environ),
    }
    session_id = open_conversation(argv)
    if session_id is None:
        refusal = f"No conversation found with session ID: {flag(argv, '--resume')}"
        record({"phase": "refused", "argv": argv, "error": refusal, "pid": os.getpid()})
        print(refusal, file=sys.stderr)
        return 1
    if "child" in todo:
        child = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(120)"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        entry["child_pid"] = child.pid
    record(entry)
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
    if "draft" in todo:
        print(f"posted draft {post_draft(prompt)}", flush=True)
    record({"phase": "end", "pid": os.getpid(), "time": time.time()})
    print("fake claude done", flush=True)
    if flag(argv, "--output-format") == "json" and "not-json" not in todo:
        print_result(todo, session_id)
    return int(todo.get("exit", "0"))


if __name__ == "__main__":
    sys.exit(main())
