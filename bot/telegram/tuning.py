"""Timeouts and retry delays of the Telegram side, in one object tests can shrink."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta


@dataclass(frozen=True)
class TelegramTuning:
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 20.0
    """How long a send waits for Telegram's answer; it may arrive after the API has replied."""
    write_timeout_s: float = 10.0
    pool_timeout_s: float = 5.0
    deliver_wait_s: float = 2.5
    """How long `POST /api/draft/create` waits for its notification to reach Telegram."""
    retry_base_s: float = 1.0
    retry_max_s: float = 300.0
    """Backoff of a failing message: base, 2 x base, 4 x base, ... up to this."""
    idle_check_s: float = 5.0
    """The sender looks at the outbox this often even unprompted (rows of other processes)."""
    polling_timeout_s: int = 10
    """Long-poll duration of getUpdates in polling mode."""
    start_retry_max_s: float = 60.0
    """Longest wait between attempts to reach Telegram at start-up."""
    shutdown_grace_s: float = 5.0
    """How long a stop waits for sends already in flight."""
    claim_window_s: float = 5.0
    """How long after a claim its messages may still be sent; the rest are handed back."""
    day_tick_s: float = 30.0
    """How often reminders and the digest are looked at."""
    max_attempts: int = 8
    """A message Telegram answered with an error this many times, while it otherwise works
    (getMe answers), is dead-lettered (status `failed`), so the chat's later messages go on.
    Failures without an answer and 429s do not count: an outage gives nothing up."""
    chat_interval_s: float = 1.0
    """Pacing (Telegram's flood limits): at most one message a second to a private chat,"""
    group_interval_s: float = 3.0
    """20 a minute to a group,"""
    global_interval_s: float = 1 / 30
    """and 30 a second in all."""

    def unpaced(self) -> TelegramTuning:
        """The same without pacing (TELEGRAM_PACING=false: benchmarks against a fake API)."""
        return replace(self, chat_interval_s=0.0, group_interval_s=0.0, global_interval_s=0.0)

    @property
    def lease(self) -> timedelta:
        """How long claimed outbox rows stay ours: the claim window plus the longest send."""
        longest_send = (
            self.pool_timeout_s
            + self.connect_timeout_s
            + self.write_timeout_s
            + self.read_timeout_s
        )
        return timedelta(seconds=self.claim_window_s + longest_send)

    def backoff_s(self, attempts: int) -> float:
        """The wait before attempt `attempts + 1` of a message that failed `attempts` times."""
        # Capped exponent: 2 ** 1024 no longer fits a float (a very long outage).
        return min(self.retry_max_s, self.retry_base_s * 2 ** min(max(0, attempts - 1), 60))
