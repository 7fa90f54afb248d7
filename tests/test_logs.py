"""Logging as `scopelock` sets it up: one line per event with its level, and no secret of the
environment ever written, whether in a message, its arguments, a traceback or a repr.

The logging is configured by the real entry point (`bot.cli.main`) from real environment
variables, so the redaction is tested along the whole way: the settings' list of secrets, the
filter on the handler, and the command line wiring them together.
"""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from bot import cli
from bot.settings import load_settings
from tests.service_process import LOG_LINE

API_TOKEN = "api-token-logs-3f9a1c77"
WEBHOOK_SECRET = "whsec-logs-8e21d0b4"
BOT_TOKEN = "424242:bot-token-logs-9c1e55"
PASSWORD = "p@ss/w0rd-logs-5d"
ENV = {
    "API_TOKEN": API_TOKEN,
    "WEBHOOK_SECRET": WEBHOOK_SECRET,
    "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
    "DATABASE_URL": f"postgresql://svc:{quote(PASSWORD, safe='')}@db.internal:5432/scopelock",
}
# Every spelling a secret may take in a log line: the password decoded and percent-encoded.
SECRETS = [API_TOKEN, WEBHOOK_SECRET, BOT_TOKEN, PASSWORD, quote(PASSWORD, safe="")]


@pytest.fixture
def service_logs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[io.StringIO]:
    """Run `scopelock sign` as the operator would, leaving its logging set up; restore after.

    Yields what that logging writes (its stderr handler, pointed at a buffer)."""
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"{}")))
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    with pytest.raises(SystemExit) as exited:
        cli.main(["sign"])
    assert exited.value.code == 0
    capsys.readouterr()  # the signature on stdout
    (handler,) = root.handlers
    assert isinstance(handler, logging.StreamHandler)
    written = io.StringIO()
    handler.setStream(written)
    yield written
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)
    logging.captureWarnings(False)


def test_every_secret_of_the_environment_is_redacted_wherever_it_appears(
    service_logs: io.StringIO,
) -> None:
    log = logging.getLogger("scopelock.test")
    for secret in SECRETS:
        log.info("in the message: %s", secret)
        log.warning(f"formatted in: {secret}")  # a caller's mistake, still safe
        try:
            raise RuntimeError(f"connect failed: {secret}")
        except RuntimeError:
            log.exception("in a traceback")

    lines = service_logs.getvalue().splitlines()

    assert len(lines) == 3 * len(SECRETS)
    written = "\n".join(lines)
    for secret in SECRETS:
        assert secret not in written
    assert written.count("***") == 3 * len(SECRETS)
    assert "RuntimeError: connect failed: ***" in lines[2]


def test_every_event_is_one_line_with_its_level(service_logs: io.StringIO) -> None:
    log = logging.getLogger("scopelock.test")
    log.warning("a client wrote:\nline two\r\nline three")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("request failed")
    log.debug("not shown at INFO")

    lines = service_logs.getvalue().splitlines()

    assert len(lines) == 2
    assert all(LOG_LINE.match(line) for line in lines), lines
    assert "a client wrote:\\nline two\\r\\nline three" in lines[0]
    assert "Traceback (most recent call last)" in lines[1]


def test_the_settings_repr_never_shows_the_database_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Even a logger with no redaction at all (a library's, a debugger's) sees no secret."""
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()

    for shown in (repr(settings), str(settings), f"{settings!r}"):
        for secret in SECRETS:
            assert secret not in shown
        assert "postgresql+asyncpg://svc:***@db.internal:5432/scopelock" in shown
    # Every use still gets the real URL.
    assert quote(PASSWORD, safe="") in settings.database_url
