"""While PostgreSQL refuses connections, taps and commands are answered and change nothing.

PostgreSQL only: there, a database can really be made unreachable for a while (connections
refused and cut) and then come back, as in a failover. No test here takes `database_url`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.settings import Settings
from bot.telegram.decisions import NOT_SAVED
from bot.telegram.handlers import FAILED
from tests.conftest import API_TOKEN, TELEGRAM_TOKEN
from tests.databases import PostgresDatabases, _admin
from tests.fake_telegram import FakeTelegram
from tests.telegram_support import free_port, running_service
from tests.telegram_updates import OPERATOR_ID


@pytest.fixture
async def pg_url(postgres_databases: PostgresDatabases) -> AsyncIterator[str]:
    url = postgres_databases.new_database()
    yield url
    await _admin(f'ALTER DATABASE "{_name(url)}" WITH ALLOW_CONNECTIONS true')
    postgres_databases.drop(url)


def _name(url: str) -> str:
    return url.rpartition("/")[2]


async def cut_off(url: str, allowed: bool) -> None:
    """Refuse new connections to the database and cut the open ones (or allow them again)."""
    name = _name(url)
    await _admin(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS {str(allowed).lower()}')
    if not allowed:
        others = f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        await _admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity {others}")  # noqa: S608


async def test_taps_and_commands_during_an_outage_are_answered_and_change_nothing(
    pg_url: str, fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=pg_url,
        api_token=API_TOKEN,
        environment="test",
        citizens_dir=tmp_path / "citizens",
        port=free_port(),
        telegram_bot_token=TELEGRAM_TOKEN,
        telegram_chat_id=OPERATOR_ID,
        telegram_api_base_url=fake_telegram.base_url,
    )
    async with running_service(settings, fake_telegram) as service:
        draft_id = (await service.post_draft())["draft_id"]
        await service.fake.wait_for(lambda: fake_telegram.sent_messages(), what="the card")

        await cut_off(pg_url, allowed=False)
        try:
            answer = await service.answered(await service.tap("approve", draft_id))
            assert answer["text"] == NOT_SAVED
            service.say("/drafts")
            await fake_telegram.wait_for(
                lambda: any(m["text"] == FAILED for m in fake_telegram.delivered()),
                timeout=15,
                what="the failure reply to /drafts",
            )
        finally:
            await cut_off(pg_url, allowed=True)

        assert (await service.draft(draft_id)).status == "pending"
        answer = await service.answered(await service.tap("approve", draft_id))
        assert answer["text"] == "✅ Approved"
        assert len(await service.events("draft.approved")) == 1
