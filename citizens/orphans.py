"""Ending what a crashed service left running: a citizen CLI orphaned by a `kill -9`.

A session row keeps the process group its CLI led. A group id alone proves nothing after a
crash (ids are reused), so a group is ended only when one of its processes still carries that
session's `SCOPELOCK_SESSION_ID` in its environment (`/proc/<pid>/environ`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from pathlib import Path

log = logging.getLogger(__name__)

PROC = Path("/proc")
KILL_GRACE_S = 3.0
POLL_S = 0.05


def group_members(pgid: int) -> list[int]:
    """The live (not zombie) processes of process group `pgid`."""
    members = []
    for entry in PROC.iterdir() if PROC.is_dir() else ():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the command name: state, ppid, pgrp, ...
        fields = stat.rpartition(")")[2].split()
        if len(fields) > 2 and fields[0] != "Z" and fields[2] == str(pgid):
            members.append(int(entry.name))
    return members


def carries_session(pid: int, session_id: str) -> bool:
    try:
        environ = (PROC / str(pid) / "environ").read_bytes()
    except OSError:
        return False
    return f"SCOPELOCK_SESSION_ID={session_id}".encode() in environ.split(b"\0")


def orphan_group(pgid: int | None, session_id: str) -> list[int]:
    """The processes of `pgid` that belong to the session; [] when the group is not it."""
    if pgid is None or pgid <= 1 or pgid == os.getpgrp():
        return []
    members = group_members(pgid)
    if not any(carries_session(pid, session_id) for pid in members):
        return []
    return members


async def end_orphan(pgid: int | None, session_id: str) -> bool:
    """SIGTERM the session's orphaned group, SIGKILL whatever is left after a grace period.
    True when there was one to end."""
    if not orphan_group(pgid, session_id):
        return False
    assert pgid is not None
    log.warning("ending the orphaned CLI of session %s (process group %s)", session_id, pgid)
    _signal(pgid, signal.SIGTERM)
    for _ in range(round(KILL_GRACE_S / POLL_S)):
        if not group_members(pgid):
            return True
        await asyncio.sleep(POLL_S)
    _signal(pgid, signal.SIGKILL)
    return True


def _signal(pgid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)
