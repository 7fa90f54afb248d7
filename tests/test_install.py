"""Installed as a user installs it: a wheel, in another virtualenv, started from elsewhere.

Marked `slow` (it builds the wheel); CI runs it.
"""

from __future__ import annotations

import shutil
import sqlite3
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.service_process import ServiceProcess, clean_env, free_port, run_once, venv_bin

pytestmark = pytest.mark.slow


# What a clone holds that is no part of the build; copying the rest keeps the build honest.
NOT_SOURCES = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", "*.db*", "results"
)


def test_the_installed_wheel_runs_from_any_directory(tmp_path: Path) -> None:
    """A non-editable install carries its migrations: nothing is read from the source tree."""
    source = tmp_path / "source"
    shutil.copytree(REPO, source, ignore=NOT_SOURCES)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    build = run_once(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), str(source)],
        cwd=tmp_path,
        env=clean_env(),
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = tmp_path.glob("scopelock-*.whl")
    # The prompts ship too: an installed service falls back to them (see citizens/directory.py).
    prompts = {str(path.relative_to(source)) for path in source.glob("citizens/*/CLAUDE.md")}
    # So do each citizen's permissions and the pinned CLI version.
    prompts |= {
        str(path.relative_to(source)) for path in source.glob("citizens/*/.claude/settings.json")
    }
    prompts.add("citizens/claude-code-version.txt")
    assert len(prompts) == 7
    # So do the Mini App's pages (web/miniapp/pages.py serves them from the package).
    pages = {str(path.relative_to(source)) for path in source.glob("web/miniapp/static/*")}
    assert "web/miniapp/static/index.html" in pages
    with zipfile.ZipFile(wheel) as archive:
        assert prompts | pages <= set(archive.namelist())

    venv = tmp_path / "venv"
    made = run_once(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp_path, env=clean_env()
    )
    assert made.returncode == 0, made.stderr
    python = str(venv / "bin" / "python")
    # The dependencies come from our own environment (offline and fast); this project's
    # editable install there is not visible, since .pth files of an added path are not run.
    site = _site_packages(python)
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    installed = run_once(
        [*pip, "--python", python, "install", "--no-deps", "--no-index", str(wheel)],
        cwd=tmp_path,
        env=clean_env(),
    )
    assert installed.returncode == 0, installed.stderr

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    probe = run_once(
        [python, "-c", "import storage.migrate as m; print(m.MIGRATIONS_DIR)"],
        cwd=elsewhere,
        env=clean_env(),
    )
    assert Path(probe.stdout.strip()).is_relative_to(site), probe.stdout + probe.stderr

    port = free_port()
    with ServiceProcess(
        [str(venv_bin("scopelock", python))],
        cwd=elsewhere,
        env=clean_env(PORT=str(port)),
        port=port,
    ) as service:
        health = service.wait_healthy()
        exit_code = service.stop()
    assert health["database"] == "ok"
    assert exit_code == 0, service.stderr
    with sqlite3.connect(elsewhere / "scopelock.db") as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
    assert {"events", "drafts", "leads", "sessions", "alembic_version"} <= tables


REPO = Path(__file__).resolve().parents[1]


def _site_packages(python: str) -> Path:
    result = run_once(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        cwd=Path.cwd(),
        env=clean_env(),
    )
    assert result.returncode == 0, result.stderr
    return Path(result.stdout.strip())
