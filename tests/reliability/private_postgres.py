"""A PostgreSQL cluster of the test's own, in a temporary directory, that it may stop at will.

The machine's shared cluster is never touched. The server runs as the `postgres` OS user
(PostgreSQL refuses to run as root), listens on a free loopback port and keeps its socket in
its own directory.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from tests.databases import REQUIRE_POSTGRES
from tests.service_process import free_port

COMMAND_TIMEOUT_S = 60
OS_USER = "postgres"


def postgres_bin_dir() -> Path | None:
    """The newest installed server's bin directory (Debian layout), or one on PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True)
    if found:
        return Path(found[0]).parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).parent if on_path else None


def require_server_binaries() -> Path:
    """Skip (locally) or fail (SCOPELOCK_REQUIRE_POSTGRES=1) without initdb and pg_ctl."""
    bin_dir = postgres_bin_dir()
    if bin_dir is not None and (os.geteuid() != 0 or _os_user_exists()):
        return bin_dir
    reason = "PostgreSQL server binaries (initdb, pg_ctl) or the postgres OS user are missing"
    if REQUIRE_POSTGRES:
        pytest.fail(f"{reason}, and SCOPELOCK_REQUIRE_POSTGRES is set", pytrace=False)
    pytest.skip(reason)


def _os_user_exists() -> bool:
    try:
        pwd.getpwnam(OS_USER)
    except KeyError:
        return False
    return True


class PrivatePostgres:
    """initdb, start, stop (fast or immediate) and start again; `url` stays valid throughout."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="scopelock-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = free_port()
        if os.geteuid() == 0:
            entry = pwd.getpwnam(OS_USER)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str) -> None:
        command = [str(self.bin_dir / argv[0]), *argv[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", OS_USER, "--", *command]
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
            cwd=self.root,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed ({result.returncode}): {result.stderr}")

    def init(self) -> None:
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
            "--no-locale", "--encoding=UTF8", "--no-sync",
        )  # fmt: skip

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -h 127.0.0.1 -c max_connections=60"
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start"
        )

    def stop(self, mode: str = "fast") -> None:
        """`fast` is a clean shutdown; `immediate` is a crash (recovery on the next start)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        with suppress(RuntimeError, subprocess.TimeoutExpired):  # already stopped
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A running private cluster, stopped and deleted when the block ends, however it ends."""
    cluster = PrivatePostgres(require_server_binaries())
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()
