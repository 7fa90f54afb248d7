"""The CLI's transcripts of citizens' conversations, kept so `--resume` works on any machine.

Stored zlib-compressed. A transcript over the limit is remembered as too large (no content):
the thread's next session then starts a new conversation told to read the thread.
"""

from __future__ import annotations

import asyncio
import zlib
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Conversation
from storage.types import utcnow


@dataclass(frozen=True)
class Stored:
    transcript: bytes | None
    """The JSONL as the CLI wrote it; None when it was over the limit."""


async def save(
    *,
    session: AsyncSession,
    claude_session_id: str,
    citizen: str,
    transcript: bytes,
    max_bytes: int,
) -> bool:
    """Store (or replace) a conversation's transcript; False when it is over `max_bytes`."""
    fits = len(transcript) <= max_bytes
    # Megabytes to pack: in a thread (zlib lets go of the GIL), not on the event loop.
    packed = await asyncio.to_thread(zlib.compress, transcript, 6) if fits else None
    row = await session.get(Conversation, claude_session_id, with_for_update=True)
    if row is None:
        row = Conversation(
            claude_session_id=claude_session_id, citizen=citizen, size_bytes=len(transcript)
        )
    row.transcript, row.size_bytes, row.updated_at = packed, len(transcript), utcnow()
    session.add(row)
    await session.flush()
    return fits


async def load(*, session: AsyncSession, claude_session_id: str) -> Stored | None:
    """The stored transcript; None when the database has none for this conversation."""
    row = await session.get(Conversation, claude_session_id)
    if row is None:
        return None
    if row.transcript is None:
        return Stored(None)
    return Stored(await asyncio.to_thread(zlib.decompress, row.transcript))
