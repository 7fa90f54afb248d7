"""`python -m tests.reliability.launch_service`: the service exactly as `python -m bot` runs it
(settings from the environment, the same logging), but with the tests' short Telegram timeouts
(tests.telegram_support.FAST) and delivery retries
(tests.delivery_support.FAST_DELIVERY), so process-level fault tests (kill -9 and restart, two
instances on one database) retry and recover in seconds instead of minutes.
"""

from __future__ import annotations

import asyncio

from bot.logs import configure_logging
from bot.service import serve
from bot.settings import load_settings
from tests.delivery_support import FAST_DELIVERY
from tests.telegram_support import FAST


def main() -> None:
    settings = load_settings()
    configure_logging(settings.log_level, settings.secret_values())
    asyncio.run(serve(settings, telegram_tuning=FAST, delivery_tuning=FAST_DELIVERY))


if __name__ == "__main__":
    main()
