"""Session tokens: each running citizen session carries one; only its hash is stored.

A token is valid while its session runs (the API answers 401 afterwards). Tokens carry a prefix,
so the API can tell one from the operator's `API_TOKEN` without a database read.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.models import CitizenSession

PREFIX = "slst_"


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def is_session_token(token: str) -> bool:
    return token.startswith(PREFIX)


def token_hash(token: str) -> str:
    # The token is 256 random bits: a fast hash is enough, nothing to brute-force.
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


async def session_for(*, session: AsyncSession, token: str) -> CitizenSession | None:
    """The session holding `token`, whatever its status (the caller checks it runs)."""
    query = select(CitizenSession).where(col(CitizenSession.token_hash) == token_hash(token))
    return await session.scalar(query)
