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
            "Authorization": f"Bearer {os.environ.get('API_TOKEN', '')}",
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return json.loads(response.read())["draft_id"]


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
        "env": {
            name: os.environ.get(name)
            for name in ("BACKEND_API_URL", "API_TOKEN", "WEBHOOK_SECRET", "SCOPELOCK_SESSION_ID")
        },
    }
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
    return int(todo.get("exit", "0"))


if __name__ == "__main__":
    sys.exit(main())
