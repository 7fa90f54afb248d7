"""The Mini App in a real browser (headless Chromium at phone size): the operator edits a long
draft, saves and approves it; the database and the card in the chat follow. Screenshots in
Telegram's light and dark themes go to $MINIAPP_SCREENSHOTS (else the test's tmp dir)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

from bot.settings import Settings
from storage.models import CitizenSession, Draft, Lead, Thread, ThreadMessage
from storage.types import utcnow
from tests.browser import DARK, LIGHT, Browser, console_errors, phone_browser
from tests.fake_telegram import FakeTelegram
from tests.miniapp_support import init_data
from tests.telegram_support import Service, free_port, running_service

PUBLIC = "https://scopelock.example"
PARAGRAPH = (
    "Thanks for the detailed brief. I have built three Telegram bots with payments and an "
    "admin panel, and I can start on Monday. "
)
LONG_DRAFT = "Hi Jane,\n\n" + PARAGRAPH * 12 + "\nBest,\nNicolas"
NEW_DRAFT = "Hello Jane,\n\n" + PARAGRAPH * 13 + "\nShall we talk on Tuesday?\nNicolas"


def wait(driver: Browser, timeout: float = 15) -> WebDriverWait:  # type: ignore[type-arg]
    return WebDriverWait(driver, timeout)


async def thread_with_message(
    service: Service,
    text: str,
    hours_ago: float,
    *,
    client: str = "Jane Cooper",
    job_title: str = "Telegram bot with payments",
) -> str:
    thread_id = str(uuid.uuid4())
    at = utcnow() - timedelta(hours=hours_ago)
    async with service.db() as session, session.begin():
        session.add(
            Thread(
                id=thread_id,
                platform="upwork",
                client=client,
                job_title=job_title,
                job_link="https://www.upwork.com/jobs/~01",
                waiting_since=at,  # as the intake sets it: the client's unanswered message
            )
        )
        session.add(ThreadMessage(thread_id=thread_id, direction="in", text=text, at=at))
    return thread_id


async def test_edit_a_long_draft_then_save_and_approve_it(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    assert len(LONG_DRAFT) >= 1500 and len(NEW_DRAFT) >= 1500
    settings = telegram_settings(port=free_port(), public_url=PUBLIC)
    async with running_service(settings, fake_telegram) as service:
        thread_id = await thread_with_message(service, "Can you start Monday?", hours_ago=2)
        created = await service.post_draft(
            client="Jane Cooper", draft_text=LONG_DRAFT, thread_id=thread_id, confidence=72
        )
        draft_id = created["draft_id"]
        await fake_telegram.wait_for(lambda: service.card(draft_id), what="the card")

        def operator_edits(driver: Browser) -> dict[str, Any]:
            driver.get(f"{service.url}/app")
            item = wait(driver).until(
                ec.element_to_be_clickable((By.CSS_SELECTOR, f'[data-draft="{draft_id}"]'))
            )
            assert "Jane Cooper" in item.text and "⏱ 2 h" in item.text
            item.click()
            text = wait(driver).until(ec.element_to_be_clickable((By.ID, "draft-text")))
            assert text.get_attribute("value") == LONG_DRAFT
            assert driver.execute_script("return __tg.webApp.BackButton.isVisible")
            main = driver.execute_script("return __tg.webApp.MainButton")
            assert (main["text"], main["isVisible"]) == ("Save and approve", True)
            text.send_keys(Keys.CONTROL, "a")
            text.send_keys(NEW_DRAFT)
            driver.find_element(By.ID, "save").click()
            wait(driver).until(ec.text_to_be_present_in_element((By.ID, "toast"), "Saved"))
            return {"errors": console_errors(driver)}

        with phone_browser(init_data()) as driver:
            seen = await asyncio.to_thread(operator_edits, driver)
            assert seen["errors"] == []
            assert (await service.draft(draft_id)).draft_text == NEW_DRAFT
            await fake_telegram.wait_for(
                lambda: "Shall we talk on Tuesday?" in service.card(draft_id)["text"],
                what="the card showing the new text",
            )

            def operator_approves(driver: Browser) -> None:
                text = driver.find_element(By.ID, "draft-text")
                text.send_keys(Keys.CONTROL, Keys.END)
                text.send_keys(" See you!")
                driver.execute_script("__tg.clickMain()")
                # Back in the inbox: no draft pends, and the client still waits for the
                # approved reply to be sent (CONTRACT §14).
                waiting = wait(driver).until(
                    ec.presence_of_element_located(
                        (By.CSS_SELECTOR, f'[data-thread="{thread_id}"]')
                    )
                )
                assert "reply approved, not sent yet" in waiting.text
                assert driver.find_elements(By.CSS_SELECTOR, "[data-draft]") == []
                assert not driver.execute_script("return __tg.webApp.BackButton.isVisible")
                assert console_errors(driver) == []

            await asyncio.to_thread(operator_approves, driver)

        draft = await service.draft(draft_id)
        assert (draft.status, draft.draft_text) == ("approved", NEW_DRAFT + " See you!")
        names = [e.event for e in await service.events() if e.payload.get("draft_id") == draft_id]
        assert names == [
            "draft.created@1.0", "draft.edited@1.0", "draft.edited@1.0", "draft.approved@1.0",
        ]  # fmt: skip
        card = await fake_telegram.wait_for(
            lambda: "Approved" in service.card(draft_id)["text"] and service.card(draft_id),
            what="the approved card",
        )
        # The final text, shortened on the card when long (it is whole in the API), and what
        # sends it: Mark as sent.
        assert NEW_DRAFT[:60] in card["text"]
        assert f"sent:{draft_id}" in str(card["reply_markup"])


async def test_a_draft_changed_meanwhile_is_flagged_and_the_text_kept(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    settings = telegram_settings(port=free_port())
    async with running_service(settings, fake_telegram) as service:
        draft_id = (await service.post_draft(draft_text=LONG_DRAFT))["draft_id"]

        def open_and_type(driver: Browser) -> None:
            driver.get(f"{service.url}/app?draft={draft_id}")
            text = wait(driver).until(ec.element_to_be_clickable((By.ID, "draft-text")))
            text.send_keys(Keys.CONTROL, Keys.END)
            text.send_keys(" Mine.")

        def save(driver: Browser) -> str:
            driver.find_element(By.ID, "save").click()
            banner = wait(driver).until(ec.visibility_of_element_located((By.ID, "banner")))
            value = driver.find_element(By.ID, "draft-text").get_attribute("value")
            assert value == LONG_DRAFT + " Mine."
            return str(banner.text)

        with phone_browser(init_data()) as driver:
            await asyncio.to_thread(open_and_type, driver)
            async with service.http.post(
                f"{service.url}/app/api/draft/{draft_id}",
                json={"action": "edit", "text": "Edited in the chat"},
                headers={"X-Telegram-Init-Data": init_data()},
            ) as response:
                assert response.status == 200
            banner = await asyncio.to_thread(save, driver)

        assert "changed since you opened it" in banner
        assert (await service.draft(draft_id)).draft_text == "Edited in the chat"


async def test_screenshots_at_phone_size_in_both_themes(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    out = Path(os.environ.get("MINIAPP_SCREENSHOTS") or tmp_path)
    settings = telegram_settings(port=free_port())
    async with running_service(settings, fake_telegram) as service:
        thread_id = await thread_with_message(service, "Can you start Monday?", hours_ago=26)
        # A client waiting with no draft (a session failed): the inbox's second section.
        await thread_with_message(
            service,
            "Any news on the quote?",
            hours_ago=3,
            client="Sam Lee",
            job_title="Django admin for a clinic",
        )
        draft_id = (
            await service.post_draft(
                client="Jane Cooper",
                job_title="Telegram bot with Stripe payments",
                draft_text=LONG_DRAFT,
                thread_id=thread_id,
                confidence=72,
                note="She asked twice about the deadline.",
            )
        )["draft_id"]
        await service.post_draft(
            client="Marco Rossi",
            job_title="Scrape 40 supplier sites",
            draft_text="Hi Marco, before I quote: do the sites need a login, and how often "
            "should the data refresh?",
            confidence=38,
        )
        await service.post_draft(
            client="Lena Fischer",
            job_title="Shopify app fixes",
            draft_text="Hi Lena, I looked at the three bugs you listed; the checkout one is a "
            "webhook retry issue I have fixed before.",
        )

        def shoot(driver: Browser, theme: dict[str, str], name: str) -> str:
            driver.get(f"{service.url}/app")
            wait(driver).until(ec.presence_of_element_located((By.CSS_SELECTOR, ".item")))
            driver.save_screenshot(str(out / f"miniapp-list-{name}.png"))
            driver.find_element(By.CSS_SELECTOR, f'[data-draft="{draft_id}"]').click()
            wait(driver).until(ec.element_to_be_clickable((By.ID, "draft-text")))
            driver.save_screenshot(str(out / f"miniapp-{name}.png"))
            driver.find_element(By.ID, "reject").click()
            wait(driver).until(ec.element_to_be_clickable((By.ID, "confirm-reject")))
            driver.save_screenshot(str(out / f"miniapp-reject-{name}.png"))
            driver.find_element(By.ID, "open-thread").click()
            wait(driver).until(ec.presence_of_element_located((By.CSS_SELECTOR, ".bubble")))
            driver.save_screenshot(str(out / f"miniapp-thread-{name}.png"))
            driver.execute_script("__tg.clickBack()")
            wait(driver).until(ec.element_to_be_clickable((By.ID, "draft-text")))
            driver.execute_script("__tg.clickBack()")
            wait(driver).until(ec.presence_of_element_located((By.CSS_SELECTOR, ".item")))
            driver.find_element(By.CSS_SELECTOR, '#tabs [data-view="stats"]').click()
            assert charts_drawn(driver) == CHARTS
            driver.save_screenshot(str(out / f"miniapp-stats-{name}.png"))
            assert console_errors(driver) == []
            return str(driver.execute_script(
                "return getComputedStyle(document.body).backgroundColor"
            ))  # fmt: skip

        for name, theme in (("light", LIGHT), ("dark", DARK)):
            with phone_browser(init_data(), dark=name == "dark") as driver:
                background = await asyncio.to_thread(shoot, driver, theme, name)
            assert background == _rgb(theme["secondary_bg_color"])
            for shot in (f"miniapp-{name}.png", f"miniapp-list-{name}.png"):
                assert (out / shot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


CHARTS = ["Drafts per day", "Response time", "Outcomes per citizen", "Cost per day", "Lead funnel"]
"""The captions of the Charts tab, in order."""

CHARTS_LOADED = """
const figures = [...document.querySelectorAll(".charts figure")];
const done = figures.length === 5 && figures.every((f) =>
  f.querySelector("p") || (f.querySelector("img") && f.querySelector("img").complete));
return done ? figures.map((f) => {
  const img = f.querySelector("img");
  return {
    caption: f.querySelector("figcaption").textContent,
    width: img ? img.naturalWidth : 0,
    problem: f.querySelector("p") ? f.querySelector("p").textContent : null,
  };
}) : null;
"""


def charts_drawn(driver: Browser) -> list[str]:
    """Wait until every chart of the Charts tab has loaded or failed; the captions of those
    whose image decoded (naturalWidth > 0), failing on any that did not."""
    figures = wait(driver, 30).until(lambda d: d.execute_script(CHARTS_LOADED))
    failed = [f for f in figures if f["width"] <= 0]
    assert failed == [], failed
    return [f["caption"] for f in figures]


async def seed_a_month(service: Service) -> None:
    """Drafts decided over the last days, sessions and their cost, leads: charts with bars."""
    now = utcnow()
    async with service.db() as session, session.begin():
        for day in range(12):
            at = now - timedelta(days=day, hours=1)
            for n, (status, citizen) in enumerate(
                [("approved", "rafael"), ("sent", "emma"), ("rejected", "rafael")][: 1 + day % 3]
            ):
                session.add(
                    Draft(
                        id=str(uuid.uuid4()),
                        client="Jane Cooper",
                        job_title="Telegram bot",
                        message="Can you start Monday?",
                        draft_text="Yes, Monday works.",
                        confidence=80,
                        citizen=citizen,
                        status=status,
                        created_at=at - timedelta(minutes=20 + 7 * n + day),
                        updated_at=at,
                        decided_at=at,
                        sent_at=at if status == "sent" else None,
                    )
                )
            for citizen, cost in (("rafael", 0.4 + day % 4 * 0.15), ("emma", 0.25 * (day % 2))):
                session.add(
                    CitizenSession(
                        id=str(uuid.uuid4()),
                        citizen=citizen,
                        trigger="webhook",
                        prompt="p",
                        status="completed",
                        created_at=at,
                        started_at=at,
                        cost_usd=cost,
                    )
                )
        for n in range(6):
            session.add(
                Lead(
                    platform="upwork",
                    title=f"Job {n}",
                    budget="$1k",
                    decision="GO" if n < 4 else "NO-GO",
                    reason="r",
                    sent=n < 2,
                    created_at=now - timedelta(days=n),
                    updated_at=now - timedelta(days=n),
                )
            )


async def test_the_charts_tab_draws_every_chart(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    """Each of the five charts is an image the browser decodes, with no console error; the
    screenshot is docs/miniapp-charts.png when MINIAPP_SCREENSHOTS=docs."""
    out = Path(os.environ.get("MINIAPP_SCREENSHOTS") or tmp_path)
    settings = telegram_settings(port=free_port())
    async with running_service(settings, fake_telegram) as service:
        await seed_a_month(service)

        def open_charts(driver: Browser) -> list[str]:
            driver.get(f"{service.url}/app")
            wait(driver).until(ec.presence_of_element_located((By.CSS_SELECTOR, "#view")))
            driver.find_element(By.CSS_SELECTOR, '#tabs [data-view="stats"]').click()
            captions = charts_drawn(driver)
            driver.save_screenshot(str(out / "miniapp-charts.png"))
            Select(driver.find_element(By.ID, "days")).select_by_value("7")
            wait(driver).until(lambda d: d.execute_script(CHARTS_LOADED) is None)
            assert charts_drawn(driver) == captions
            assert console_errors(driver) == []
            return captions

        with phone_browser(init_data()) as driver:
            assert await asyncio.to_thread(open_charts, driver) == CHARTS
        assert (out / "miniapp-charts.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _rgb(hex_color: str) -> str:
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


async def test_reject_with_a_reason_and_redraft_with_an_instruction(
    telegram_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    settings = telegram_settings(port=free_port())
    async with running_service(settings, fake_telegram) as service:
        rejected = (await service.post_draft(client="Marco Rossi"))["draft_id"]
        redrafted = (await service.post_draft(client="Lena Fischer"))["draft_id"]

        def decide(driver: Browser, draft_id: str, button: str, fill: Callable[[], None]) -> None:
            wait(driver).until(
                ec.element_to_be_clickable((By.CSS_SELECTOR, f'[data-draft="{draft_id}"]'))
            ).click()
            wait(driver).until(ec.element_to_be_clickable((By.ID, button))).click()
            fill()
            driver.find_element(By.ID, f"confirm-{button}").click()
            wait(driver).until(ec.invisibility_of_element_located((By.ID, "draft-text")))

        def operator(driver: Browser) -> list[str]:
            driver.get(f"{service.url}/app")
            decide(
                driver,
                rejected,
                "reject",
                lambda: driver.find_element(By.XPATH, '//button[text()="Not a fit"]').click(),
            )
            decide(
                driver,
                redrafted,
                "redraft",
                lambda: driver.find_element(By.ID, "instruction").send_keys("Ask for the budget"),
            )
            wait(driver).until(ec.presence_of_element_located((By.CSS_SELECTOR, ".empty")))
            return [str(e["message"]) for e in console_errors(driver)]

        with phone_browser(init_data()) as driver:
            assert await asyncio.to_thread(operator, driver) == []

        assert (await service.draft(rejected)).status == "rejected"
        assert (await service.draft(redrafted)).status == "superseded"
        found = {
            (e.event, e.payload.get("text") or e.payload.get("instruction"))
            for e in await service.events()
            if e.payload.get("draft_id") in (rejected, redrafted)
        }
        assert ("draft.feedback@1.0", "Not a fit") in found
        assert ("draft.redraft_requested@1.0", "Ask for the budget") in found
        await fake_telegram.wait_for(
            lambda: "Rejected" in service.card(rejected)["text"], what="the rejected card"
        )
