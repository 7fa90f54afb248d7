"""Waits and timeouts of the delivery worker, in one object tests can shrink to milliseconds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class DeliveryTuning:
    retry_waits_s: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000)
    """The wait after the 1st, 2nd, … failed attempt; the last one repeats."""
    give_up_after_s: float = 24 * 3600
    """Attempts stop this long after the delivery was queued (the last one falls at the end)."""
    request_timeout_s: float = 30.0
    """How long one POST may take, answer included."""
    idle_check_s: float = 5.0
    """The worker looks for due deliveries this often even unprompted (other processes)."""
    claim_margin_s: float = 30.0
    """A claim outlasts the longest attempt by this much, so recording it never races a retry."""
    batch: int = 10
    """Deliveries claimed (and attempted side by side) at once."""
    shutdown_grace_s: float = 5.0
    """How long a stop waits for attempts in flight."""

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.request_timeout_s + self.claim_margin_s)

    def wait_after(self, attempts: int) -> float:
        """The wait before the next attempt of a delivery that has failed `attempts` times."""
        return self.retry_waits_s[min(max(attempts, 1), len(self.retry_waits_s)) - 1]
