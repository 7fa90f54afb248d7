"""Logging: one line per event with its level; configured secrets never written."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from bot.logs import configure_logging
from tests.service_process import LOG_LINE

SECRET = "s3cret-token-0b9e"
PASSWORD = "db-pass-77f1"


@pytest.fixture
def stderr() -> Iterator[io.StringIO]:
    """What our logging setup writes to stderr; pytest's own handlers come back afterwards."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    configure_logging("INFO", [SECRET, PASSWORD])
    stream = io.StringIO()
    (handler,) = root.handlers
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    yield stream
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)
    logging.captureWarnings(False)


def test_every_event_is_one_line_with_a_level_and_no_secret(stderr: io.StringIO) -> None:
    log = logging.getLogger("scopelock.test")
    log.info("token is %s", SECRET)
    log.warning("a client wrote:\nline two\r\nline three")
    try:
        raise RuntimeError(f"connect failed for postgres://svc:{PASSWORD}@db/x")
    except RuntimeError:
        log.exception("request failed")
    log.debug("not shown at INFO")

    lines = stderr.getvalue().splitlines()

    assert len(lines) == 3
    assert all(LOG_LINE.match(line) for line in lines), lines
    assert "token is ***" in lines[0]
    assert "a client wrote:\\nline two\\r\\nline three" in lines[1]
    assert "RuntimeError: connect failed for postgres://svc:***@db/x" in lines[2]
    assert "Traceback (most recent call last)" in lines[2]
    assert SECRET not in "".join(lines) and PASSWORD not in "".join(lines)
