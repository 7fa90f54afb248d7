"""A newcomer's first run: a fresh clone, a fresh virtualenv, the README's quick start word for
word (see tests/quick_start.py for the three stand-ins a test needs), up to a paired chat and an
approved draft against the fake Bot API. Slow: `pip install .` builds a whole environment."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.quick_start import REPO, follow_quick_start
from tests.service_process import clean_env

pytestmark = pytest.mark.slow


@pytest.mark.timeout(1500)
def test_a_fresh_clone_follows_the_quick_start_to_a_paired_chat(tmp_path: Path) -> None:
    clone = tmp_path / "scopelock"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True, timeout=120)
    env = {name: value for name, value in clean_env().items() if name != "VIRTUAL_ENV"}

    began = time.monotonic()
    follow_quick_start(clone, env, start=lambda block: block, start_timeout=1200)
    took = time.monotonic() - began

    assert (clone / ".venv" / "bin" / "scopelock").exists()
    print(f"\nquick start, from the clone to an approved draft: {took:.0f} s")
