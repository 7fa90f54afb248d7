"""Citizen sessions as the API lists them (the runner owns their life cycle)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.models import CitizenSession
from storage.repo.keyset import older_than


async def get(*, session: AsyncSession, session_id: str) -> CitizenSession | None:
    return await session.get(CitizenSession, session_id)


async def list_page(
    *,
    session: AsyncSession,
    citizen: str | None = None,
    status: str | None = None,
    thread_id: str | None = None,
    limit: int,
    after: tuple[datetime, str] | None = None,
) -> Sequence[CitizenSession]:
    """Newest first; `after` is the (created_at, id) of the last row of the previous page."""
    row = CitizenSession
    query = select(row).order_by(col(row.created_at).desc(), col(row.id).desc()).limit(limit)
    if citizen is not None:
        query = query.where(col(row.citizen) == citizen)
    if status is not None:
        query = query.where(col(row.status) == status)
    if thread_id is not None:
        query = query.where(col(row.thread_id) == thread_id)
    if after is not None:
        query = query.where(older_than(row.created_at, row.id, after))
    return (await session.scalars(query)).all()
