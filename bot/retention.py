"""The periodic pruning of expired rows (storage/repo/retention.py), started with the service."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.loops import Loop
from storage.repo import retention

log = logging.getLogger(__name__)


def retention_loop(db: async_sessionmaker[AsyncSession], *, interval_s: float) -> Loop:
    """Prunes once at start, then every `interval_s`; a failed pass is logged and retried."""

    async def prune() -> None:
        pruned = await retention.prune(db)
        if any(vars(pruned).values()):
            log.info("pruned expired rows: %s", vars(pruned))

    return Loop("retention", prune, every=interval_s)
