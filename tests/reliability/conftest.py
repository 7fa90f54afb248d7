"""Figures the reliability tests measure, printed together at the end of the run.

`pytest -m reliability` ends with a "reliability figures" section: what the README quotes.
"""

from __future__ import annotations

from collections import Counter

import pytest

FIGURES: Counter[str] = Counter()


@pytest.fixture
def figures() -> Counter[str]:
    """Add to a named figure: `figures["requests sent during faults"] += n`."""
    return FIGURES


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not FIGURES:
        return
    terminalreporter.section("reliability figures")
    for name, value in sorted(FIGURES.items()):
        terminalreporter.write_line(f"{name}: {value}")
