"""What web/ reads of the service's settings, and what else bot/ hands it.

web/ sits below bot/: bot/service.py gives it the settings (bot's `Settings` satisfies
`WebSettings` structurally; mypy checks it where bot passes them in), the chart renderer and
the delivery worker's wake, instead of web/ importing them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from pydantic import SecretStr

from citizens.config import CitizenSettings
from storage.repo.stats import Stats


class WebSettings(CitizenSettings, Protocol):
    """The settings web/ reads (and those of citizens/, which web/ passes on)."""

    @property
    def api_token(self) -> SecretStr | None: ...

    @property
    def webhook_secret(self) -> SecretStr | None: ...

    @property
    def low_confidence(self) -> int: ...

    @property
    def telegram_bot_token(self) -> SecretStr | None: ...

    @property
    def telegram_chat_id(self) -> int | None: ...

    @property
    def telegram_allowed_user_ids(self) -> frozenset[int]: ...


@dataclass(frozen=True)
class Charts:
    """The charts of /stats (bot/charts.py), which the Mini App serves too."""

    kinds: Sequence[str]
    png: Callable[[str, Stats], Awaitable[bytes]]
    """One chart as PNG (drawn off the service's process: matplotlib is slow)."""
