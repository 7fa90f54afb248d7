"""Job leads as Emma evaluated them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

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


async def by_link(*, session: AsyncSession, link: str) -> Lead | None:
    """The oldest lead tracked with this link."""
    return (
        await session.scalars(
            select(Lead).where(Lead.link == link).order_by(Lead.id).limit(1)  # type: ignore[arg-type]
        )
    ).first()


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
    query = select(Lead).order_by(col(Lead.id).desc()).limit(limit)
    if decision is not None:
        query = query.where(col(Lead.decision) == decision)
    if platform is not None:
        # Stored lower-case (older rows too, once written through the API since).
        query = query.where(func.lower(col(Lead.platform)) == platform.lower())
    if link is not None:
        query = query.where(col(Lead.link) == link)
    if sent is not None:
        query = query.where(col(Lead.sent) == sent)
    if before_id is not None:
        query = query.where(col(Lead.id) < before_id)
    return (await session.scalars(query)).all()
