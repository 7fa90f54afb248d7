"""Idempotency keys of draft creation: the first response, kept to be answered again."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import IdempotencyKey


async def get(*, session: AsyncSession, key: str) -> IdempotencyKey | None:
    return await session.get(IdempotencyKey, key)


async def claim(
    *, session: AsyncSession, key: str, request_hash: str, response: dict[str, Any]
) -> None:
    """Record the key; a concurrent claim of the same key fails with an IntegrityError."""
    session.add(IdempotencyKey(key=key, request_hash=request_hash, response=response))
    await session.flush()


async def update_response(*, session: AsyncSession, key: str, response: dict[str, Any]) -> None:
    row = await session.get(IdempotencyKey, key)
    if row is not None:
        row.response = response
        session.add(row)
        await session.flush()
