"""Transaction-level locks on a name, to serialize the writers of one thing that does not
exist yet (a thread, a lead, a delivery): PostgreSQL's advisory locks. SQLite needs none:
its transactions begin IMMEDIATE, one writer at a time (storage/engine.py)."""

from __future__ import annotations

import hashlib

from sqlalchemy import BigInteger, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from storage.hotpath import Fetch, HotStatement

Name = tuple[str, ...]
_KEY = func.unnest(bindparam("lock_keys", type_=ARRAY(BigInteger()))).column_valued("key")
# Every name in one round trip, taken in the order given (unnest keeps the array's order).
_LOCK = HotStatement(select(func.pg_advisory_xact_lock(_KEY)))


def lock_key(name: Name) -> int:
    """A signed 64-bit key for the name's parts."""
    digest = hashlib.sha256("\x1f".join(name).encode(errors="surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def lock_keys(names: list[Name]) -> list[int]:
    """The names' keys in a fixed order: two callers that share several never deadlock."""
    return sorted({lock_key(name) for name in names})


async def hold(fetch: Fetch, on_postgres: bool, names: list[Name]) -> None:
    """Lock each name until the transaction ends."""
    if on_postgres and names:
        await fetch(_LOCK, {"lock_keys": lock_keys(names)})


async def hold_in(session: AsyncSession, name: Name) -> None:
    """`hold` one name, in the caller's session transaction."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(_LOCK.core, {"lock_keys": [lock_key(name)]})
