"""What citizens/ reads of the service's settings.

citizens/ sits below bot/: it is given the settings (bot's `Settings` satisfies this protocol
structurally, and mypy checks it where bot passes them in) instead of importing them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

from pydantic import SecretStr


class CitizenSettings(Protocol):
    """The settings citizens/ reads: where citizens live, how a session runs, what it costs."""

    @property
    def citizens_dir(self) -> Path: ...

    @property
    def model_fields_set(self) -> set[str]:
        """The settings given explicitly (an explicit CITIZENS_DIR is never replaced)."""
        ...

    @property
    def tz(self) -> ZoneInfo: ...

    @property
    def claude_bin(self) -> str: ...

    @property
    def citizen_timeout_s(self) -> float: ...

    @property
    def citizen_max_budget_usd(self) -> float | None: ...

    @property
    def citizens_daily_budget_usd(self) -> float | None: ...

    @property
    def api_url_for_citizens(self) -> str: ...

    @property
    def anthropic_api_key(self) -> SecretStr | None: ...

    @property
    def claude_code_oauth_token(self) -> SecretStr | None: ...

    @property
    def worker_concurrency(self) -> int: ...

    @property
    def session_lease_s(self) -> float: ...
