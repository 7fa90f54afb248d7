"""Job leads as Emma evaluated them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Lead
from storage.types import utcnow


async def create(*, session: AsyncSession, **fields: Any) -> Lead:
    now = utcnow()
    lead = Lead(created_at=now, updated_at=now, **fields)
    session.add(lead)
    await session.flush()
    return lead


async def get(*, session: AsyncSession, lead_id: int, for_update: bool = False) -> Lead | None:
    return await session.get(Lead, lead_id, with_for_update=for_update)


async def set_sent(*, session: AsyncSession, lead: Lead, sent: bool) -> None:
    lead.sent = sent
    lead.updated_at = utcnow()
    session.add(lead)
    await session.flush()


async def list_page(
    *,
    session: AsyncSession,
    decision: str | None = None,
    platform: str | None = None,
    sent: bool | None = None,
    link: str | None = None,
    limit: int,
    before_id: int | None = None,
) -> Sequence[Lead]:
    """Newest first; `before_id` is the last id of the previous page."""
    query = select(Lead).order_by(Lead.id.desc()).limit(limit)  # type: ignore[union-attr]
    if decision is not None:
        query = query.where(Lead.decision == decision)
    if platform is not None:
        query = query.where(Lead.platform == platform)
    if sent is not None:
        query = query.where(Lead.sent == sent)
    if link is not None:
        query = query.where(Lead.link == link)
    if before_id is not None:
        query = query.where(Lead.id < before_id)  # type: ignore[operator]
    return (await session.scalars(query)).all()
