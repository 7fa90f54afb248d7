"""The periodic pruning of expired rows (storage/repo/retention.py), started with the service."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.loops import Loop
from storage.repo import retention
from storage.repo.retention import Pruned

log = logging.getLogger(__name__)


def retention_loop(db: async_sessionmaker[AsyncSession], *, interval_s: float) -> Loop[Pruned]:
    """Prunes once at start, then every `interval_s`; a failed pass is logged and retried.

    The claim is a pass of pruning (what it deleted; None when nothing had expired), the
    handler logs it."""

    async def prune() -> Pruned | None:
        pruned = await retention.prune(db)
        return pruned if any(vars(pruned).values()) else None

    async def report(pruned: Pruned) -> None:
        log.info("pruned expired rows: %s", vars(pruned))

    return Loop("retention", claim=prune, handle=report, every=interval_s)
