"""/schedule and /stats in the operator's chat, against the fake Bot API on both databases."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from PIL import Image
from sqlalchemy import select

from bot.settings import Settings
from storage.models import Schedule
from tests.fake_telegram import FakeTelegram
from tests.telegram_support import Service, free_port, running_service
from tests.test_telegram_commands import reply_to

pytestmark = pytest.mark.usefixtures("citizens_home")


async def schedules(service: Service) -> list[Schedule]:
    async with service.db() as session:
        return list((await session.scalars(select(Schedule).order_by(Schedule.id))).all())


async def test_schedule_adds_lists_and_removes_and_answers_its_usage_otherwise(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    settings = telegram_settings(port=free_port(), timezone="Europe/Paris")
    async with running_service(settings, fake_telegram) as service:
        [empty] = await reply_to(service, "/schedule")
        assert empty["text"].startswith("No schedules yet.")
        assert "/schedule add <citizen> <m h dom mon dow> <message>" in empty["text"]

        [added] = await reply_to(service, "/schedule add emma 0 8 * * 1-5 Scan <new> leads & say")
        [row] = await schedules(service)
        assert (row.citizen, row.cron, row.message) == (
            "emma",
            "0 8 * * 1-5",
            "Scan <new> leads & say",
        )
        assert added["text"].startswith(f"✅ Schedule #{row.id}: emma runs at 0 8 * * 1-5")
        assert "(Europe/Paris)" in added["text"] and "08:00" in added["text"]

        [listing] = await reply_to(service, "/schedule list")
        assert f"#{row.id} emma · 0 8 * * 1-5 · next" in listing["text"]
        assert "Scan <new> leads & say" in listing["text"]

        [bad_cron] = await reply_to(service, "/schedule add emma 0 25 * * * Too late")
        assert bad_cron["text"].startswith("⛔ Not scheduled: bad hour in '0 25 * * *'.")
        [stranger] = await reply_to(service, "/schedule add zoe 0 8 * * * Hello")
        assert "there is no citizen 'zoe'" in stranger["text"]
        for wrong in ("/schedule add emma 0 8 * *", "/schedule rm", "/schedule frobnicate"):
            [usage] = await reply_to(service, wrong)
            assert usage["text"].startswith("Usage:"), wrong
        assert len(await schedules(service)) == 1

        [missing] = await reply_to(service, "/schedule rm 999")
        assert missing["text"].startswith("⛔ There is no schedule #999.")
        [removed] = await reply_to(service, f"/schedule rm {row.id}")
        assert removed["text"] == f"🗑 Schedule #{row.id} removed."
        assert await schedules(service) == []

    registered = {
        c["command"] for c in fake_telegram.calls_to("setMyCommands")[0].params["commands"]
    }
    assert {"stats", "schedule"} <= registered


async def test_stats_sends_five_readable_charts_with_a_short_text(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    async with running_service(telegram_settings(port=free_port()), fake_telegram) as service:
        draft = await service.post_draft()
        await service.tap("approve", draft["draft_id"])
        await fake_telegram.wait_for(
            lambda: "Approved" in service.card(draft["draft_id"])["text"], what="the approval"
        )
        service.say("/stats 7")
        await fake_telegram.wait_for(lambda: len(fake_telegram.photos) == 5, what="5 charts")
        [usage] = await reply_to(service, "/stats 400")

    [album] = fake_telegram.calls_to("sendMediaGroup")
    assert len(album.params["media"]) == 5
    photos = fake_telegram.photos
    assert [p.filename for p in photos] == [
        "drafts.png",
        "response_time.png",
        "citizens.png",
        "cost.png",
        "leads.png",
    ]
    caption = photos[0].caption or ""
    assert caption.startswith("📊 The last 7 days (UTC)")
    assert "Drafts: 1 approved (0 edited), 0 rejected" in caption
    assert all(p.caption is None for p in photos[1:])
    for photo in photos:
        assert (photo.width, photo.height) == (1080, 840)
        image = Image.open(io.BytesIO(photo.data))
        image.load()  # decodes every pixel
        assert image.format == "PNG" and image.size == (1080, 840)
    assert usage["text"].startswith("Usage: /stats [days]")
