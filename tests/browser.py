"""Headless Chromium for the Mini App tests: the system `chromium` and `chromedriver` (Debian's
packages; nothing is downloaded), a phone-sized window, and a stub of Telegram's WebApp object
injected before any page script runs (telegram.org itself is blocked: tests have no internet)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.service import Service as ChromeService

Browser = webdriver.Chrome

CHROMIUM = os.environ.get("SCOPELOCK_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("SCOPELOCK_CHROMEDRIVER", "/usr/bin/chromedriver")
ARGUMENTS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--window-size=390,844", "--disable-extensions", "--no-first-run",
)  # fmt: skip
PHONE = {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True}

# Telegram's own palettes (Android client), as themeParams.
LIGHT = {
    "bg_color": "#ffffff", "secondary_bg_color": "#f0f0f0", "section_bg_color": "#ffffff",
    "text_color": "#222222", "hint_color": "#a8a8a8", "link_color": "#2678b6",
    "button_color": "#50a8eb", "button_text_color": "#ffffff", "accent_text_color": "#1c93e3",
    "destructive_text_color": "#cc2929",
}  # fmt: skip
DARK = {
    "bg_color": "#212d3b", "secondary_bg_color": "#151e27", "section_bg_color": "#17212b",
    "text_color": "#ffffff", "hint_color": "#7d8b99", "link_color": "#5eabe1",
    "button_color": "#5288c1", "button_text_color": "#ffffff", "accent_text_color": "#64b5ef",
    "destructive_text_color": "#ef5b5b",
}  # fmt: skip

STUB = """
(() => {
  const config = %s;
  const handlers = { main: [], back: [] };
  const button = (name) => ({
    text: "", isVisible: false, isActive: true, isProgressVisible: false,
    setText(text) { this.text = text; return this; },
    show() { this.isVisible = true; return this; },
    hide() { this.isVisible = false; return this; },
    enable() { this.isActive = true; return this; },
    disable() { this.isActive = false; return this; },
    showProgress() { this.isProgressVisible = true; return this; },
    hideProgress() { this.isProgressVisible = false; return this; },
    onClick(f) { handlers[name].push(f); return this; },
    offClick(f) { handlers[name] = handlers[name].filter((g) => g !== f); return this; },
  });
  const webApp = {
    initData: config.initData, initDataUnsafe: {}, version: "8.0", platform: "android",
    colorScheme: config.scheme, themeParams: config.theme,
    MainButton: button("main"), BackButton: button("back"),
    HapticFeedback: { notificationOccurred() {}, impactOccurred() {} },
    ready() {}, expand() {}, onEvent() {}, offEvent() {}, openLink() {},
    enableClosingConfirmation() {}, disableClosingConfirmation() {},
  };
  Object.defineProperty(window, "Telegram", { value: { WebApp: webApp }, writable: false });
  window.__tg = {
    webApp,
    clickMain: () => handlers.main.slice().forEach((f) => f()),
    clickBack: () => handlers.back.slice().forEach((f) => f()),
  };
})();
"""


def require_browser() -> None:
    """The browser tests never skip: without the browser they fail, saying what to install."""
    for path in (CHROMIUM, CHROMEDRIVER):
        assert shutil.which(path), f"{path} is missing: apt-get install chromium chromium-driver"


@contextmanager
def phone_browser(init_data: str, *, dark: bool = False) -> Iterator[Browser]:
    require_browser()
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never download a driver
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ARGUMENTS:
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=ChromeService(executable_path=CHROMEDRIVER), options=options)
    try:
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", PHONE)
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["*telegram.org*"]})
        config = {
            "initData": init_data,
            "scheme": "dark" if dark else "light",
            "theme": DARK if dark else LIGHT,
        }
        driver.execute_cdp_cmd(
            "Page.addScriptToEvaluateOnNewDocument", {"source": STUB % json.dumps(config)}
        )
        yield driver
    finally:
        driver.quit()


def console_errors(driver: Browser) -> list[dict[str, Any]]:
    """Errors the page logged (CSP violations among them), but the blocked telegram.org
    script and the favicon no page here has."""
    return [
        entry
        for entry in driver.get_log("browser")
        if entry["level"] == "SEVERE"
        and "telegram.org" not in entry["message"]
        and "favicon" not in entry["message"]
    ]
