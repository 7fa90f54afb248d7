"""Transaction-level locks on a name, to serialize the writers of one thing that does not
exist yet (a thread, a lead, a delivery): PostgreSQL's advisory locks. SQLite needs none:
its transactions begin IMMEDIATE, one writer at a time (storage/engine.py)."""

from __future__ import annotations

import hashlib

from sqlalchemy import BigInteger, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.hotpath import Fetch, HotStatement

_LOCK = HotStatement(select(func.pg_advisory_xact_lock(bindparam("lock_key", type_=BigInteger()))))


def lock_key(*name: str) -> int:
    """A signed 64-bit key for the name's parts."""
    digest = hashlib.sha256("\x1f".join(name).encode(errors="surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


async def hold(fetch: Fetch, on_postgres: bool, *names: tuple[str, ...]) -> None:
    """Lock each name until the transaction ends, in a fixed order (no deadlock between two
    callers that share several)."""
    if on_postgres:
        for key in sorted({lock_key(*name) for name in names}):
            await fetch(_LOCK, {"lock_key": key})


async def hold_in(session: AsyncSession, *name: str) -> None:
    """`hold` one name, in the caller's session transaction."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(_LOCK.core, {"lock_key": lock_key(*name)})
