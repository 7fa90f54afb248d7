"""The operator chat of a process that does not pair itself (a worker): it follows the pairing
the service stores, and a set TELEGRAM_CHAT_ID is never replaced."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.service import pairing_follower, with_operator_chat
from bot.settings import Settings
from storage.repo import operator_pairing
from tests.conftest import TELEGRAM_TOKEN

PAIRED = 5550123


async def pair(db: async_sessionmaker[AsyncSession], chat_id: int) -> None:
    async with db() as session, session.begin():
        await operator_pairing.pair(session=session, chat_id=chat_id, user_id=chat_id)


async def until_paired(settings: Settings, timeout_s: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while settings.telegram_chat_id is None:
        assert asyncio.get_running_loop().time() < deadline, "the pairing was never followed"
        await asyncio.sleep(0.02)


async def test_a_pairing_made_elsewhere_reaches_a_running_process(
    make_settings: Callable[..., Settings], db: async_sessionmaker[AsyncSession]
) -> None:
    given = make_settings(telegram_bot_token=TELEGRAM_TOKEN)
    settings = await with_operator_chat(given, db)
    assert settings.telegram_chat_id is None and settings is not given

    async with pairing_follower(settings, db, every_s=0.02):
        await pair(db, PAIRED)
        await until_paired(settings)

    assert settings.telegram_chat_id == PAIRED
    assert given.telegram_chat_id is None  # the caller's settings are left alone
    assert (await with_operator_chat(given, db)).telegram_chat_id == PAIRED


async def test_a_set_chat_id_wins_and_nothing_is_followed(
    make_settings: Callable[..., Settings], db: async_sessionmaker[AsyncSession]
) -> None:
    await pair(db, PAIRED)
    settings = await with_operator_chat(
        make_settings(telegram_bot_token=TELEGRAM_TOKEN, telegram_chat_id=-100900), db
    )
    async with pairing_follower(settings, db, every_s=0.02):
        await asyncio.sleep(0.2)  # ten looks: none may replace the chat that is set

    assert settings.telegram_chat_id == -100900
