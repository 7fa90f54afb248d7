"""The periodic pruning of expired rows (storage/repo/retention.py), started with the service."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.repo import retention

log = logging.getLogger(__name__)


class RetentionTask:
    """Prunes once at start, then every `interval_s`; a failed pass is logged and retried."""

    def __init__(self, db: async_sessionmaker[AsyncSession], *, interval_s: float) -> None:
        self._db = db
        self._interval_s = interval_s
        self._task: asyncio.Task[None] | None = None
        self.passes = 0
        """Completed passes (tests wait on it)."""

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="retention")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                pruned = await retention.prune(self._db)
            except Exception as error:  # the database may be down for a while: try next time
                log.warning("pruning expired rows failed: %s", type(error).__name__)
            else:
                self.passes += 1
                if any(vars(pruned).values()):
                    log.info("pruned expired rows: %s", vars(pruned))
            await asyncio.sleep(self._interval_s)
