"""The Mini App's inbox in a real browser (headless Chromium at phone size): a client who
waits with no draft (their session failed) is listed below the drafts, with how long they
have waited and what happened, and opens their conversation (CONTRACT §14)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from bot.settings import Settings
from storage.models import CitizenSession, Thread, ThreadMessage
from storage.types import utcnow
from tests.browser import Browser, console_errors, phone_browser
from tests.fake_telegram import FakeTelegram
from tests.miniapp_support import init_data
from tests.telegram_support import free_port, running_service


async def test_a_client_waiting_with_no_draft_is_in_the_inbox(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    settings = telegram_settings(port=free_port(), public_url="https://scopelock.example")
    async with running_service(settings, fake_telegram) as service:
        thread_id, at = str(uuid.uuid4()), utcnow() - timedelta(hours=2, minutes=5)
        async with service.db() as session, session.begin():
            session.add(
                Thread(
                    id=thread_id,
                    platform="upwork",
                    client="Grace Hopper",
                    job_title="Compiler port",
                    waiting_since=at,
                    last_message_at=at,
                )
            )
            await session.flush()
            session.add(ThreadMessage(thread_id=thread_id, direction="in", text="Status?", at=at))
            session.add(
                CitizenSession(
                    id=str(uuid.uuid4()),
                    citizen="rafael",
                    trigger="upwork-response",
                    prompt="p",
                    status="failed",
                    error="Not logged in · Please run /login",
                    thread_id=thread_id,
                    created_at=at,
                )
            )

        def operator_looks(driver: Browser) -> dict[str, Any]:
            driver.get(f"{service.url}/app")
            item = WebDriverWait(driver, 15).until(
                ec.element_to_be_clickable((By.CSS_SELECTOR, f'[data-thread="{thread_id}"]'))
            )
            seen = {"item": item.text, "page": driver.find_element(By.TAG_NAME, "body").text}
            item.click()
            WebDriverWait(driver, 15).until(
                ec.text_to_be_present_in_element((By.TAG_NAME, "body"), "Status?")
            )
            seen["errors"] = console_errors(driver)
            return seen

        with phone_browser(init_data()) as driver:
            seen = await asyncio.to_thread(operator_looks, driver)

    assert "1 waiting, no draft" in seen["page"].lower()  # the title is set in capitals
    assert "Grace Hopper" in seen["item"] and "Compiler port" in seen["item"]
    assert "⏱ 2 h" in seen["item"]
    assert "rafael could not draft a reply" in seen["item"]
    assert seen["errors"] == []
