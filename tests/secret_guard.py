"""A watch over the whole suite: no secret may appear in a log line, an HTTP answer or a child
process's captured output, in any test.

The secrets are learnt as the tests make them: every `Settings` built in this process (its
secrets and its database password), and every child process started with one of
SECRET_VARIABLES in its environment. What is watched:
- every log record at INFO and above that reaches the root logger (raw, before any redaction:
  stricter than the service's own output, which also redacts);
- every HTTP answer body an aiohttp client reads (the `api` TestClient, the in-process and
  child-process services, the fake Telegram's webhook deliveries);
- the output of child processes collected with `communicate()` (`subprocess.run`), and the
  `*.stderr` files the process tests write for the services they start.
tests/conftest.py installs it for the session and fails a test whose run leaked a secret.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy.engine import make_url

from bot.settings import Settings

SECRET_VARIABLES = (
    "API_TOKEN",
    "WEBHOOK_SECRET",
    "TELEGRAM_BOT_TOKEN",
    "TELEGRAM_WEBHOOK_SECRET",
    "DELIVERY_WEBHOOK_SECRET",
)
MIN_SECRET_CHARS = 8
"""Shorter values ("tok-1") are placeholders of settings tests; they would match by chance."""


class SecretGuard:
    def __init__(self) -> None:
        self._secrets: dict[str, str] = {}
        """value -> what it is (a name only: findings never repeat the value)."""
        self.findings: list[str] = []

    def register(self, name: str, value: str | None) -> None:
        if value and len(value) >= MIN_SECRET_CHARS:
            self._secrets.setdefault(value, name)
        # A bot token's secret half is a secret on its own (it is what a leaked URL shows).
        if name == "TELEGRAM_BOT_TOKEN" and value and ":" in value:
            self.register("TELEGRAM_BOT_TOKEN (after the colon)", value.partition(":")[2])
        # A Standard Webhooks secret's base64 part, and the key it decodes to, are secrets too.
        if name == "DELIVERY_WEBHOOK_SECRET" and value and value.startswith("whsec_"):
            encoded = value.removeprefix("whsec_")
            self.register(f"{name} (its base64 part)", encoded)
            with contextlib.suppress(ValueError):
                key = base64.b64decode(encoded).decode("utf-8", errors="ignore")
                self.register(f"{name} (its key)", key)

    def register_settings(self, settings: Settings) -> None:
        for name in SECRET_VARIABLES:
            secret = getattr(settings, name.lower())
            self.register(name, secret.get_secret_value() if secret is not None else None)
        self.register("the DATABASE_URL password", make_url(settings.database_url).password)

    def register_env(self, env: Mapping[str, str] | None) -> None:
        for name in SECRET_VARIABLES:
            self.register(name, (env or {}).get(name))

    def scan(self, text: str | bytes | None, where: str) -> None:
        if not text:
            return
        if isinstance(text, bytes):
            text = text.decode("utf-8", errors="replace")
        for value, name in self._secrets.items():
            if value in text:
                self.findings.append(f"{name} in {self._redacted(where)}")

    def _redacted(self, text: str) -> str:
        for value in self._secrets:
            text = text.replace(value, "***")
        return text

    def scan_files(self, root: Path, pattern: str) -> None:
        for path in root.rglob(pattern):
            self.scan(path.read_bytes(), f"{path.name} (a child process's stderr)")

    def take_findings(self) -> list[str]:
        found, self.findings = self.findings, []
        return found


class GuardHandler(logging.Handler):
    def __init__(self, guard: SecretGuard) -> None:
        super().__init__(logging.INFO)
        self.guard = guard

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        self.guard.scan(text, f"a log record of {record.name} ({record.levelname})")


@contextmanager
def installed(guard: SecretGuard) -> Iterator[GuardHandler]:
    """Hook the guard into Settings, child processes and aiohttp's client for the session."""
    with pytest.MonkeyPatch.context() as patch:
        build_settings = Settings.__init__

        def settings_init(self: Settings, *args: Any, **kwargs: Any) -> None:
            build_settings(self, *args, **kwargs)
            guard.register_settings(self)

        patch.setattr(Settings, "__init__", settings_init)

        start_process = subprocess.Popen.__init__

        def popen_init(self: subprocess.Popen[Any], *args: Any, **kwargs: Any) -> None:
            guard.register_env(kwargs.get("env"))
            start_process(self, *args, **kwargs)

        patch.setattr(subprocess.Popen, "__init__", popen_init)

        communicate = subprocess.Popen.communicate

        def popen_communicate(self: subprocess.Popen[Any], *args: Any, **kwargs: Any) -> Any:
            output = communicate(self, *args, **kwargs)
            for stream in output:
                guard.scan(stream, f"the output of {self.args!r:.100}")
            return output

        patch.setattr(subprocess.Popen, "communicate", popen_communicate)

        read_body = aiohttp.ClientResponse.read

        async def read(self: aiohttp.ClientResponse) -> bytes:
            body = await read_body(self)
            guard.scan(body, f"the answer to {self.method} {self.url.path}")
            return body

        patch.setattr(aiohttp.ClientResponse, "read", read)
        yield GuardHandler(guard)
